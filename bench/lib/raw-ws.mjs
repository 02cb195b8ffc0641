// A bare WebSocket client on a TCP socket, for fuzzing: the upgrade request written by hand,
// frames sent with a zero mask (RFC 6455 lets the client pick any key; a zero one needs no XOR)
// and the server's frames parsed just enough to hand over binary messages and see a close.
// The `ws` package costs ~0.8 ms of CPU per connection (an http.ClientRequest, a random key, a
// SHA-1 check, streams); bench:fuzz opens one per case, since a bad frame closes the socket.
//
// API
//   openRawSocket(url, { protocol? }) → Promise<RawSocket | { refused: status }>
//       url: http://host:port/path. protocol: the Sec-WebSocket-Protocol header, if any.
//   RawSocket: send(bytes, { text? }), destroy(), onMessage(fn(Uint8Array)), onClose(fn),
//              closed
import { connect } from "node:net";

const KEY = "dGhlIHNhbXBsZSBub25jZQ=="; // the key is not checked by the server; any 16 bytes do
const HEADER_END = Buffer.from("\r\n\r\n");

/** Opens a socket and upgrades it; resolves once the server answered the upgrade. */
export function openRawSocket(url, { protocol } = {}) {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    let settled = false;
    const ws = {
      closed: false,
      message: () => undefined,
      close: () => undefined,
      onMessage(fn) {
        ws.message = fn;
      },
      onClose(fn) {
        ws.close = fn;
        if (ws.closed) fn();
      },
      send(bytes, { text = false } = {}) {
        if (ws.closed) return;
        socket.write(frameOf(text ? 0x1 : 0x2, bytes));
      },
      destroy() {
        socket.destroy();
      },
    };
    const settle = (value) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    const gone = () => {
      if (ws.closed) return;
      ws.closed = true;
      settle({ refused: 0 });
      ws.close();
    };
    socket.on("connect", () => {
      socket.write(
        `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
          "\r\n",
      );
    });
    socket.on("data", (data) => {
      buffered = buffered.length ? Buffer.concat([buffered, data]) : data;
      if (!upgraded) {
        const end = buffered.indexOf(HEADER_END);
        if (end < 0) return;
        const status = Number(buffered.subarray(9, 12).toString("latin1"));
        if (status !== 101) {
          settle({ refused: status });
          ws.closed = true;
          socket.destroy();
          return;
        }
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        settle(ws);
      }
      // Server frames: FIN+opcode, then a 7-, 16- or 64-bit length, never masked.
      while (buffered.length >= 2) {
        const opcode = buffered[0] & 0x0f;
        let length = buffered[1] & 0x7f;
        let at = 2;
        if (length === 126) {
          if (buffered.length < 4) return;
          length = buffered.readUInt16BE(2);
          at = 4;
        } else if (length === 127) {
          if (buffered.length < 10) return;
          length = Number(buffered.readBigUInt64BE(2));
          at = 10;
        }
        if (buffered.length < at + length) return;
        const payload = buffered.subarray(at, at + length);
        buffered = buffered.subarray(at + length);
        if (opcode === 0x8) {
          // The server closes: nothing more to learn from this socket.
          socket.destroy();
          return gone();
        }
        if (opcode === 0x9) socket.write(frameOf(0xa, payload));
        else if (opcode === 0x2 || opcode === 0x1) ws.message(new Uint8Array(payload));
      }
    });
    socket.on("error", () => undefined); // followed by close
    socket.on("close", gone);
  });
}

/** One unfragmented client frame with a zero mask key. */
function frameOf(opcode, bytes) {
  const n = bytes.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  out.writeUInt32BE(0, head);
  out.set(bytes, head + 4);
  return out;
}
