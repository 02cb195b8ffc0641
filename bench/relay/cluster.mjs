// bench:relay --relays N: the relay scaled out. Three set-ups measured in one run, one after
// the other: one relay on SQLite (today's deployment), one relay on PostgreSQL, and N relays
// sharing that PostgreSQL database and fanning out through NATS. Each gets the same passes:
// connections held (clients round-robin over the relays), fan-out (publisher on relay 1,
// subscribers round-robin), and append rate (one folder, several writers; many folders, one
// writer each).
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deriveFolderSubkeys, generateFolderKey } from "@weft/crypto";
import pg from "pg";
import { machineInfo } from "../lib/machine.mjs";
import { freePort, killAll, rssOf, startChild } from "../lib/procs.mjs";
import { median, round } from "../lib/stats.mjs";
import { appendRate } from "./appends.mjs";
import { weftFanOut } from "./fanout.mjs";
import { holdConnections } from "./hold.mjs";
import { relayOpenSockets, setUpAccounts, tokenMinter, weftConnect } from "./weft-client.mjs";

const MiB = 1024 * 1024;
/** The PostgreSQL server the bench creates its database in (trust auth on this machine). */
const PG_ADMIN_URL = process.env.WEFT_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * CPU seconds PostgreSQL's processes on this machine have used so far: every live `postgres`
 * process, plus what the postmaster's exited children used (its cutime and cstime), so a
 * backend that ends during a pass still counts. The whole server's: other databases' work too.
 */
function postgresCpuSeconds() {
  const procs = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      // Fields after the command name, 1-based: 4 ppid, 14 utime, 15 stime, 16 cutime, 17 cstime.
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.push({ pid: name, comm, ppid: f[1], own: +f[11] + +f[12], children: +f[13] + +f[14] });
    } catch {
      // Gone meanwhile.
    }
  }
  const postgres = procs.filter((p) => p.comm === "postgres");
  const pids = new Set(postgres.map((p) => p.pid));
  const ticks = postgres.reduce((sum, p) => sum + p.own + (pids.has(p.ppid) ? 0 : p.children), 0);
  return ticks / 100; // USER_HZ
}

/** Starts `nats-server` on a free loopback port; `{ server, url }`. */
async function startNats(log) {
  const port = await freePort();
  const server = await startChild("nats-server", ["-a", "127.0.0.1", "-p", String(port)], {
    name: "nats-server",
    env: process.env,
    ready: (line) => (line.includes("Server is ready") ? true : undefined),
  });
  log(`nats-server nats://127.0.0.1:${port} (pid ${server.pid})`);
  return { server, url: `nats://127.0.0.1:${port}` };
}

/** Creates a fresh database; `{ url, drop }`, `drop()` removes it even with relays still on it. */
async function freshDatabase(log) {
  const name = `weft_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  log(`PostgreSQL database ${name}`);
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Starts `count` relay processes, one after the other (the first applies the schema), each
 * with its own data directory (chunks on local disk: these passes write none) and the given
 * database and bus, all signing with `secret`.
 */
async function startRelays(o, { label, count, dir, database, bus, secret }) {
  const relays = [];
  for (let i = 0; i < count; i++) {
    const env = {
      ...process.env,
      WEFT_RELAY_JWT_SECRET: secret,
      ...(database ? { WEFT_RELAY_DATABASE: database } : {}),
      ...(bus ? { WEFT_RELAY_BUS: bus } : {}),
    };
    const args = [
      ...o.serverFlags,
      o.relayCli,
      "--port",
      "0",
      "--data",
      join(dir, `${label}-${i}`),
      "--rate-limit",
      "0",
      // The append pass makes 1 + folders new folders per repeat, all of account 0.
      "--account-folders",
      "0",
      "--log-level",
      "info",
    ];
    const relay = await startChild(process.execPath, args, {
      name: `weft relay ${label}-${i}`,
      env,
      ready: (line) => {
        try {
          return JSON.parse(line).url;
        } catch {
          return undefined;
        }
      },
    });
    o.log(`relay ${label}-${i} ${relay.value} (pid ${relay.pid})`);
    relays.push(relay);
  }
  const urls = relays.map((r) => r.value);
  return {
    relays,
    urls,
    url: urls[0],
    wsUrls: urls.map((u) => `${u.replace("http", "ws")}/v1/ws`),
    pids: relays.map((r) => r.pid),
  };
}

/** The passes of one set-up, `o.repeats` times; the samples. */
async function measure(o, label, ctx, natsPids) {
  await sleep(1000);
  const idle = ctx.pids.map((pid) => rssOf(pid));
  const samples = [];
  const sizes = { ...o.sizes, addresses: o.addresses };
  for (let r = 0; r < o.repeats; r++) {
    o.log(`${label}: repeat ${r + 1}/${o.repeats}`);
    const s = {};
    s.connections = await holdConnections(
      label,
      ctx.pids,
      o.connections,
      (i) => {
        const id = ctx.identities[i];
        return weftConnect(
          ctx.wsUrls[i % ctx.wsUrls.length],
          o.addresses[i % o.addresses.length],
          ctx.mint(id.account.accountId, id.deviceId),
          id.account.folderId,
          0,
        );
      },
      async () => {
        let n = 0;
        for (const url of ctx.urls) n += await relayOpenSockets(url);
        return n;
      },
      o.log,
    );
    s.fanout = await weftFanOut(ctx, `${label}-${r}`, sizes, natsPids);
    o.log(
      `${label} fan-out: ${s.fanout.deliveriesPerSecond} deliveries/s, p50 ${s.fanout.latencyMs.p50} ms, p99 ${s.fanout.latencyMs.p99} ms, ${s.fanout.serverCpuUsPerDelivery} µs server CPU per delivery`,
    );
    const runAppends = async (what, writers, folders, perWriter) => {
      const pg0 = postgresCpuSeconds();
      const result = await appendRate(
        { ...ctx, pids: [...ctx.pids, ...natsPids] },
        `${label}-${what}-${r}`,
        { writers, folders, perWriter, window: o.appendWindow, sizes },
      );
      // Includes making the pass's folders and the writers' connects: small next to the appends.
      const pgCpu = postgresCpuSeconds() - pg0;
      return {
        ...result,
        postgresCpuUsPerAppend: ctx.postgres ? round((pgCpu / (writers * perWriter)) * 1e6) : null,
      };
    };
    s.appendsOneFolder = await runAppends("one", o.writers, 1, o.perWriterOne);
    s.appendsManyFolders = await runAppends("many", o.folders, o.folders, o.perWriterMany);
    o.log(
      `${label} appends/s: one folder ${s.appendsOneFolder.appendsPerSecond} (${o.writers} writers), ${o.folders} folders ${s.appendsManyFolders.appendsPerSecond}`,
    );
    samples.push(s);
  }
  return { idle, final: ctx.pids.map((pid) => rssOf(pid)), samples };
}

/** Medians over repeats of one set-up's samples. */
function summarizeSetup(o, label, relays, { idle, final, samples }) {
  const m = (get, digits = 1) => round(median(samples.map(get)), digits);
  const held = samples.map((s) => s.connections.rssHeldBytesPerProcess);
  const heldPerRelay = idle.map((_, p) => median(held.map((h) => h[p])));
  const idleTotal = idle.reduce((a, b) => a + b, 0);
  const heldTotal = heldPerRelay.reduce((a, b) => a + b, 0);
  const appends = (key) => ({
    appendsPerSecond: m((s) => s[key].appendsPerSecond),
    latencyMs: { p50: m((s) => s[key].latencyMs.p50, 2), p99: m((s) => s[key].latencyMs.p99, 2) },
    serverCpuUsPerAppend: m((s) => s[key].serverCpuUsPerAppend),
    postgresCpuUsPerAppend:
      samples[0][key].postgresCpuUsPerAppend === null
        ? null
        : m((s) => s[key].postgresCpuUsPerAppend),
    benchCpuShare: m((s) => s[key].benchCpuShare, 2),
  });
  return {
    label,
    relays,
    connections: {
      count: o.connections,
      rssIdleMiBPerRelay: idle.map((b) => round(b / MiB)),
      rssHeldMiBPerRelay: heldPerRelay.map((b) => round(b / MiB)),
      rssHeldMiBTotal: round(heldTotal / MiB),
      rssPerConnectionKiB: round((heldTotal - idleTotal) / o.connections / 1024, 2),
      connectsPerSecond: m((s) => s.connections.connectsPerSecond),
      serverCpuUsPerConnect: m((s) => s.connections.serverCpuUsPerConnect),
      framesAfterHandshake: m((s) => s.connections.framesAfterHandshake, 0),
    },
    fanout: {
      subscribers: o.sizes.subscribers,
      messages: o.sizes.envelopes,
      deliveriesPerSecond: m((s) => s.fanout.deliveriesPerSecond),
      latencyMs: {
        p50: m((s) => s.fanout.latencyMs.p50, 2),
        p99: m((s) => s.fanout.latencyMs.p99, 2),
      },
      serialLatencyMs: {
        p50: m((s) => s.fanout.serialLatencyMs.p50, 2),
        p99: m((s) => s.fanout.serialLatencyMs.p99, 2),
      },
      serverCpuShare: m((s) => s.fanout.serverCpuShare, 2),
      benchCpuShare: m((s) => s.fanout.benchCpuShare, 2),
      serverCpuUsPerDelivery: m((s) => s.fanout.serverCpuUsPerDelivery, 2),
      setupMs: m((s) => s.fanout.setupMs),
      presenceFramesDuringSetup: m((s) => s.fanout.presenceFramesDuringSetup, 0),
    },
    appendsOneFolder: {
      writers: o.writers,
      perWriter: o.perWriterOne,
      ...appends("appendsOneFolder"),
    },
    appendsManyFolders: {
      folders: o.folders,
      perWriter: o.perWriterMany,
      ...appends("appendsManyFolders"),
    },
    rssAtEndMiBPerRelay: final.map((b) => round(b / MiB)),
    samples,
  };
}

/**
 * Runs the three set-ups with `o.relays` relays in the last; returns the result JSON. `o`:
 * sizes, repeats, the relay CLI and node flags, loopback addresses, `log`.
 */
export async function runCluster(o) {
  const dir = await mkdtemp(join(tmpdir(), "weft-bench-relay-cluster-"));
  const loadBefore = loadavg();
  const secret = randomBytes(32).toString("base64url");
  const mint = tokenMinter(secret);
  const devices = Math.max(o.connections, o.sizes.subscribers, o.writers, o.folders);
  const fresh = (started, setUp) => ({
    ...started,
    ...setUp,
    mint,
    indexKey: deriveFolderSubkeys(generateFolderKey(), 0).index,
    nextDeviceSeq: 1,
    headSeq: 0,
  });
  let nats;
  let db;
  const setups = [];
  try {
    // 1. One relay on SQLite.
    let started = await startRelays(o, { label: "sqlite", count: 1, dir, secret });
    let setUp = await setUpAccounts(started.url, mint, {
      devices,
      subscribers: o.sizes.subscribers,
      log: o.log,
    });
    let ctx = fresh(started, setUp);
    setups.push(summarizeSetup(o, "sqlite-1", 1, await measure(o, "sqlite-1", ctx, [])));
    await Promise.all(started.relays.map((r) => r.stop()));

    // 2. One relay on PostgreSQL, no bus.
    db = await freshDatabase(o.log);
    started = await startRelays(o, { label: "pg", count: 1, dir, secret, database: db.url });
    setUp = await setUpAccounts(started.url, mint, {
      devices,
      subscribers: o.sizes.subscribers,
      log: o.log,
    });
    ctx = { ...fresh(started, setUp), postgres: true };
    setups.push(summarizeSetup(o, "pg-1", 1, await measure(o, "pg-1", ctx, [])));
    await Promise.all(started.relays.map((r) => r.stop()));

    // 3. N relays on the same database (its accounts, devices and folders), through NATS.
    nats = await startNats(o.log);
    started = await startRelays(o, {
      label: "cluster",
      count: o.relays,
      dir,
      secret,
      database: db.url,
      bus: nats.url,
    });
    ctx = { ...ctx, ...started };
    const label = `pg-${o.relays}`;
    let measured;
    try {
      measured = await measure(o, label, ctx, [nats.server.pid]);
    } catch (error) {
      // What the relays said is what explains a refused or dropped connection.
      for (const r of started.relays) o.log(`${r.name}:\n${r.logs()}`);
      throw error;
    }
    setups.push(summarizeSetup(o, label, o.relays, measured));
    await Promise.all(started.relays.map((r) => r.stop()));
  } finally {
    killAll();
    if (db) await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    benchmark: "relay-cluster",
    command: `npm run bench:relay -- --relays ${o.relays} --connections ${o.connections} --subscribers ${o.sizes.subscribers} --repeats ${o.repeats}${o.quick ? " --quick" : ""}`,
    quick: o.quick,
    relays: o.relays,
    connections: o.connections,
    subscribers: o.sizes.subscribers,
    messages: o.sizes.envelopes,
    serialMessages: o.sizes.serial,
    messageBytes: o.sizes.messageBytes,
    window: o.sizes.window,
    appendWindow: o.appendWindow,
    repeats: o.repeats,
    loopbackAddresses: o.addresses.length,
    setups: Object.fromEntries(setups.map((s) => [s.label, s])),
    notes: [
      `Three set-ups, one after the other in one run: one relay on SQLite (--data), one relay on PostgreSQL (--database, no bus), ${o.relays} relays on that same PostgreSQL database with --bus (one nats-server). PostgreSQL ${PG_ADMIN_URL.replace(/\/[^/]*$/, "")}: a fresh database per run, dropped at the end.`,
      "Every relay keeps chunks on its own local disk (--data): connections, fan-out and appends write no chunk, so S3 would not change these figures.",
      "Clients are spread round-robin over the relays; in the fan-out the publisher is on relay 1 and subscriber i on relay i mod N, so (N-1)/N of the deliveries cross NATS.",
      "serverCpuUsPerDelivery and serverCpuUsPerAppend are the CPU of every relay process plus nats-server (cluster only). postgresCpuUsPerAppend is PostgreSQL's, read from /proc for all of the server's processes (live ones, plus the postmaster's exited children) over the append pass, which includes creating its folders and connecting its writers; other databases' work on the server would count too.",
      "Append rate: writers are devices of one account, each subscribed to its folder, sending 1 KiB signed envelopes with appendWindow unacknowledged each; appendsPerSecond = all appends / (last appended − first send). In the one-folder pass every append is also delivered to the other writers.",
      "All processes — relays, nats-server, PostgreSQL and the single-threaded bench client — share one 2-core machine with other work (see loadAverage): the cluster cannot use more cores than the single relay could, so its figures show the cost of scale-out (bus hops, PostgreSQL round trips), not its capacity.",
    ],
    loadAverage: {
      start: loadBefore.map((x) => round(x, 2)),
      end: loadavg().map((x) => round(x, 2)),
    },
    machine: machineInfo(null),
  };
}
