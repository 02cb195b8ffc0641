// The fault proxy the fault-injection tests put between agents and the relay: it forwards, and
// each fault does what a client would see on a bad network (held bytes, a cut frame, a reset,
// a refused connection), and the proxy recovers from each on the same port.
import { type Server, type Socket, connect, createServer } from "node:net";
import { afterEach, beforeEach, expect, test } from "vitest";
import { type FaultProxy, startFaultProxy } from "@weft/test-support";

let target: Server;
let proxy: FaultProxy;
const sockets: Socket[] = [];
/** The target's end of each connection, by the first thing it received. */
const byFirstMessage = new Map<string, Socket>();
const BIG = 256 * 1024;

// An echo server, except that "big\n" is answered with BIG bytes in 4 KiB pieces, 5 ms apart,
// so that a fault switched on in the middle of the answer meets it there.
beforeEach(async () => {
  target = createServer((s) => {
    sockets.push(s);
    s.on("error", () => undefined);
    s.on("data", (d: Buffer) => {
      if (!byFirstMessage.has(d.toString()) && ![...byFirstMessage.values()].includes(s))
        byFirstMessage.set(d.toString(), s);
      if (d.toString() !== "big\n") return void s.write(d);
      let sent = 0;
      const timer = setInterval(() => {
        if (s.destroyed || sent >= BIG) return clearInterval(timer);
        s.write(Buffer.alloc(4096, 7));
        sent += 4096;
      }, 5);
    });
  });
  await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
  const { port } = target.address() as { port: number };
  proxy = await startFaultProxy(`127.0.0.1:${port}`);
});

afterEach(async () => {
  await proxy.close();
  for (const s of sockets.splice(0)) s.destroy();
  byFirstMessage.clear();
  await new Promise((resolve) => target.close(resolve));
});

/** A client connection through the proxy that collects what it receives and how it ended. */
async function client(): Promise<{
  socket: Socket;
  received: () => Buffer;
  ended: Promise<string>;
}> {
  const socket = connect({ host: "127.0.0.1", port: proxy.port });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  const ended = new Promise<string>((resolve) => {
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.once("close", () => resolve("closed"));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, received: () => Buffer.concat(chunks), ended };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test("pass forwards both ways; delay holds each chunk but keeps order", async () => {
  const c = await client();
  c.socket.write("hello");
  await until(() => c.received().toString() === "hello", "the echo");
  expect([proxy.bytesUp, proxy.bytesDown]).toEqual([5, 5]);
  await proxy.delay(150);
  const sent = Date.now();
  c.socket.write("a");
  await until(() => c.received().toString() === "helloa", "the delayed echo");
  // Once there and once back: at least two delays.
  expect(Date.now() - sent).toBeGreaterThanOrEqual(290);
});

test("stall holds open and new connections silent, a close included; pass releases what was held, in order", async () => {
  const open = await client();
  const closing = await client();
  closing.socket.write("bye");
  await until(() => closing.received().toString() === "bye", "the echo");
  await proxy.stall();
  open.socket.write("one");
  const fresh = await client(); // accepted, then silent
  fresh.socket.write("two");
  let closedEarly = false;
  void closing.ended.then(() => (closedEarly = proxy.mode === "stall"));
  byFirstMessage.get("bye")!.end(); // the target closes one connection during the stall
  await new Promise((resolve) => setTimeout(resolve, 300)); // long enough for an echo to show
  expect(open.received().length).toBe(0);
  expect(fresh.received().length).toBe(0);
  expect(closedEarly).toBe(false);
  await proxy.pass();
  await until(() => open.received().toString() === "one", "the held echo");
  await until(() => fresh.received().toString() === "two", "the new connection's echo");
  expect(await closing.ended).toBe("closed"); // and the close arrives after all
});

test(
  "drop cuts a connection in the middle of what it was forwarding",
  { timeout: 10_000 },
  async () => {
    const c = await client();
    await proxy.drop();
    c.socket.write("big\n"); // the request itself is cut: half of it reaches the target
    expect(await c.ended).toBe("closed");
    expect(proxy.dropped).toBe(1);
    await proxy.pass();
    const d = await client();
    d.socket.write("big\n");
    await until(() => d.received().length > 0, "the start of the answer");
    await proxy.drop(); // now cut in the answer's middle
    expect(await d.ended).toBe("closed");
    expect(d.received().length).toBeGreaterThan(0);
    expect(d.received().length).toBeLessThan(BIG);
  },
);

test("reset sends RST to open connections and to new ones", async () => {
  const c = await client();
  await proxy.reset();
  expect(await c.ended).toBe("ECONNRESET");
  const fresh = connect({ host: "127.0.0.1", port: proxy.port });
  sockets.push(fresh);
  expect(
    await new Promise((resolve) =>
      fresh.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)),
    ),
  ).toBe("ECONNRESET");
  expect(proxy.resets).toBe(2);
});

test("refuse turns new connections away, leaves open ones working, and pass listens again on the same port", async () => {
  const open = await client();
  await proxy.refuse();
  const refused = connect({ host: "127.0.0.1", port: proxy.port });
  sockets.push(refused);
  expect(
    await new Promise((resolve) =>
      refused.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)),
    ),
  ).toBe("ECONNREFUSED");
  open.socket.write("still");
  await until(() => open.received().toString() === "still", "the open connection's echo");
  await proxy.pass();
  const again = await client();
  again.socket.write("back");
  await until(() => again.received().toString() === "back", "an echo after refusing");
});
