// HTTP requests for fuzzing on node:http with keep-alive sockets: about half the client CPU of
// `fetch` (undici's streams, a Request and a Response per case), and the path goes out as
// written (fetch would resolve `..` and `%2e%2e` and drop `#…` before the relay saw them).
//
// API
//   httpSender(url, sockets) → { send(req, hangMs) → Promise<Outcome>, close() }
//       req: { method, path, headers, body? }. Outcome: { status, body } (body: the answer's
//       first 200 bytes as text), { reset: true } (the connection ended first, or node refused
//       to send the request) or { hang: true } (no full answer within hangMs).
import { Agent, request } from "node:http";
import { clearTimeout, setTimeout } from "node:timers";

export function httpSender(url, sockets) {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const send = (req, hangMs) =>
    new Promise((resolve) => {
      let settled = false;
      let timer;
      const settle = (outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      let out;
      try {
        out = request({
          host: hostname,
          port: Number(port),
          path: req.path,
          method: req.method,
          headers: req.headers,
          agent,
        });
      } catch {
        return settle({ reset: true }); // a path or header node will not send
      }
      timer = setTimeout(() => {
        settle({ hang: true });
        out.destroy();
      }, hangMs);
      out.on("response", (res) => {
        let head = "";
        res.on("data", (chunk) => {
          if (head.length < 200) head += chunk.toString("latin1", 0, 200);
        });
        res.on("end", () => settle({ status: res.statusCode, body: head.slice(0, 200) }));
        res.on("error", () => settle({ reset: true }));
        res.on("aborted", () => settle({ reset: true }));
      });
      out.on("error", () => settle({ reset: true })); // the relay closes after a 413, say
      out.on("close", () => settle({ reset: true })); // closed before a full answer
      out.end(req.body);
    });
  return { send, close: () => agent.destroy() };
}
