// Every Transport runs the one conformance suite: the in-memory pair, and the WebSocket
// transport over real sockets (two clients joined by a byte pipe on 127.0.0.1).
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { runTransportTests } from "../src/conformance/index.js";
import { createWebSocketTransport } from "../src/client/index.js";
import { createMemoryTransportPair } from "../src/protocol/transport.js";

runTransportTests("in-memory pair", () => {
  const [client, peer] = createMemoryTransportPair();
  return Promise.resolve({
    client,
    peer,
    sendRaw: (frame: Uint8Array) => peer.sendRaw(frame),
    teardown: () => Promise.resolve(),
  });
});

runTransportTests("WebSocket (ws), through a pipe server", async () => {
  // The first socket to connect is the client's, the second the peer's; the server copies
  // every binary message from one to the other, bytes untouched.
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const sockets: WebSocket[] = [];
  server.on("connection", (socket) => {
    sockets.push(socket);
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      const other = sockets[sockets.indexOf(socket) ^ 1];
      other?.send(data, { binary: isBinary });
    });
    socket.on("close", (code, reason) =>
      sockets[sockets.indexOf(socket) ^ 1]?.close(code === 1005 ? 1000 : code, reason),
    );
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`;
  const client = createWebSocketTransport(url, { WebSocket });
  await client.connect();
  const peer = createWebSocketTransport(url, { WebSocket });
  await peer.connect();
  while (sockets.length < 2) await new Promise((resolve) => server.once("connection", resolve));
  return {
    client,
    peer,
    sendRaw: (frame: Uint8Array) => sockets[0]!.send(frame, { binary: true }),
    teardown: async () => {
      client.close();
      peer.close();
      for (const s of server.clients) s.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});
