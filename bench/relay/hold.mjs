// bench:relay's connections-held pass: N clients open at once, the servers' memory read with
// all of them open, then all closed.
import { setTimeout as sleep } from "node:timers/promises";
import { cpuSecondsOf, ownCpuSeconds, rssOf } from "../lib/procs.mjs";
import { collect, median, round } from "../lib/stats.mjs";
import { CONNECT_CONCURRENCY } from "./fanout.mjs";
import { closeAll, pool, until } from "./weft-client.mjs";

const MiB = 1024 * 1024;

/**
 * Opens `count` clients with `connect(i)`, reads the RSS of each of the server processes
 * `pids`, closes them. `openOnServer()`, when given, is the servers' own count of open sockets.
 * `rssHeldBytes` is the sum over the processes; `rssHeldBytesPerProcess` each one's.
 */
export async function holdConnections(label, pids, count, connect, openOnServer, log) {
  collect();
  const clients = new Array(count);
  const cpuOf = () => pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0);
  const cpu0 = cpuOf();
  const own0 = ownCpuSeconds();
  const t0 = performance.now();
  await pool(count, CONNECT_CONCURRENCY, async (i) => {
    clients[i] = await connect(i);
  });
  const connectMs = performance.now() - t0;
  const serverCpu = cpuOf() - cpu0;
  const benchCpu = ownCpuSeconds() - own0;
  if (openOnServer)
    await until(async () => (await openOnServer()) === count, 10_000, "the server's socket count");
  await sleep(1500); // let presence and pings settle before reading memory
  const readings = pids.map(() => []);
  for (let k = 0; k < 3; k++) {
    pids.forEach((pid, p) => readings[p].push(rssOf(pid)));
    await sleep(300);
  }
  const perProcess = readings.map((r) => median(r));
  const framesAfterHandshake = clients.reduce((n, c) => n + c.frames, 0);
  const benchRss = process.memoryUsage().rss;
  await closeAll(clients);
  if (openOnServer)
    await until(async () => (await openOnServer()) === 0, 30_000, "sockets to close");
  await sleep(500);
  const result = {
    connectMs: round(connectMs),
    connectsPerSecond: round(count / (connectMs / 1000)),
    serverCpuUsPerConnect: round((serverCpu / count) * 1e6),
    benchCpuUsPerConnect: round((benchCpu / count) * 1e6),
    rssHeldBytes: perProcess.reduce((a, b) => a + b, 0),
    rssHeldBytesPerProcess: perProcess,
    framesAfterHandshake,
    benchProcessRssMiB: round(benchRss / MiB),
  };
  log(
    `${label}: ${count} connections in ${result.connectMs} ms, server RSS ${perProcess.map((b) => round(b / MiB)).join(" + ")} MiB`,
  );
  return result;
}
