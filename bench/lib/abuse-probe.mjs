// bench:abuse's /health probe: a worker thread (so the attack's own work in the bench process
// does not delay it) that GETs /health on the relay and on a control server every 50 ms. The
// control is a bare Node HTTP server in its own process: its p99 is what this machine's load
// alone does to an answer that costs nothing, so the relay's share shows beside it.
import { Worker } from "node:worker_threads";
import { startChild } from "./procs.mjs";

/** GET /health every 50 ms from a worker thread, until told to stop; posts the latencies (ms). */
const HEALTH_PROBE = `
const { parentPort, workerData } = require("node:worker_threads");
const { request } = require("node:http");
let running = true;
parentPort.on("message", () => (running = false));
const once = (port) => new Promise((resolve) => {
  const t = performance.now();
  const req = request({ ...workerData, port, path: "/health" }, (res) => {
    res.resume();
    res.on("end", () => resolve(performance.now() - t));
  });
  req.on("error", () => resolve(performance.now() - t));
  req.end();
});
(async () => {
  const relay = [];
  const control = [];
  while (running) {
    relay.push(await once(workerData.port));
    control.push(await once(workerData.controlPort));
    await new Promise((r) => setTimeout(r, 50));
  }
  parentPort.postMessage({ relay, control });
})();`;

/** Starts the control server; `value` is its port. */
export function startControl() {
  return startChild(
    process.execPath,
    [
      "-e",
      `require("node:http").createServer((q, s) => s.end("ok")).listen(0, "127.0.0.1", function () { console.log(this.address().port); });`,
    ],
    { name: "control server", env: process.env, ready: (line) => Number(line) || undefined },
  );
}

/**
 * Starts probing `host:port` and `host:controlPort` from `localAddress`; `stop()` answers the
 * latencies (ms) of each, `{ relay, control }`.
 */
export function probeHealth(workerData) {
  const probe = new Worker(HEALTH_PROBE, { eval: true, workerData });
  const done = new Promise((resolve) => probe.once("message", resolve));
  return {
    stop: async () => {
      probe.postMessage("stop");
      const samples = await done;
      await probe.terminate();
      return samples;
    },
  };
}
