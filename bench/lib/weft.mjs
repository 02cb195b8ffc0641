// Weft as a user runs it, for benchmarks: a relay process on 127.0.0.1 and `weft` agents, each
// with its own WEFT_HOME, sharing one folder; with the CPU time and peak memory of every process.
// Uses the built packages (`npm run build` first). Every child is killed when the bench exits
// (lib/procs.mjs).
//
// API
//   startRelay({ dir, flags?, env? }) → relay
//       `weft relay --host 127.0.0.1 --port 0 --data DIR/relay` (plus `flags`, e.g.
//       ["--rate-limit", "0"]); resolves once it printed its URL.
//       relay.url, relay.pid, relay.dataDir
//       relay.metrics() → { name or name{labels}: number } from GET /metrics
//       relay.usage()   → { cpuSeconds, peakRssBytes } so far;  relay.stop() → the same, final
//   makeAgent({ dir, name, relayUrl }) → agent       (DIR/NAME/home and DIR/NAME/folder)
//       agent.home, agent.folder, agent.env, agent.folderId (after createFolder/join)
//       agent.weft(args, { input? }) → the JSON `weft ARGS --json` printed; throws on failure
//       agent.weftMeasured(args, { input? }) → { json, cpuSeconds, peakRssBytes, ms } of one run
//       agent.enroll()           init + account register (user NAME, password from WEFT_PASSWORD)
//       agent.startDaemon(args?) `weft sync` in the background; resolves once it says "syncing"
//       agent.waitOnline(ms?)    resolves once the daemon's status shows the folder online and idle
//       agent.stopDaemon()       SIGTERM; resolves with { cpuSeconds, peakRssBytes, exit }
//       agent.daemonUsage()      { cpuSeconds, peakRssBytes } of the running daemon so far
//       agent.syncOnce(args?)    `weft sync --once --json`: { json, cpuSeconds, peakRssBytes, ms }
//       agent.status()           `weft status --json` (the first folder), via the CLI
//       agent.storedStatus()     the status file the daemon rewrites every second (no process)
//   shareFolder({ dir, relayUrl, devices = 2, names? }) → { agents, folderId }
//       enrolls N agents (one account each), the first creates the folder, invites the others
//       (editor), and they join with the invite on stdin, as a user would paste it.
//   meter(pid) → { sample(), stop() } (from lib/usage.mjs) a poller of /proc/PID and its children:
//       CPU seconds (user + system) and peak RSS (VmHWM); `stop()` reads once more and returns
//       { cpuSeconds, peakRssBytes }. Call it before the process exits: a process that exits on
//       its own loses at most one poll (100 ms).
//   countingProxy(targetUrl) → { url, up, down, close() } a TCP proxy on 127.0.0.1 that counts
//       the bytes a client sends (`up`) and receives (`down`): what crossed the wire, HTTP and
//       WebSocket framing included. Register an agent through `proxy.url` to measure it.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startChild } from "./procs.mjs";
import { meter } from "./usage.mjs";

export { meter };

const root = fileURLToPath(new URL("../..", import.meta.url));
export const WEFT_CLI = join(root, "packages/node-agent/bin/weft.js");
export const RELAY_CLI = join(root, "packages/relay/dist/cli.js");
/** Extra node flags for every Weft process, e.g. WEFT_BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p". */
const nodeFlags = () => (process.env.WEFT_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);

/** Runs `node args…` to completion; resolves with its output, status and resource use. */
function runNode(args, { env, input = "" }) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...nodeFlags(), ...args], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const m = meter(child.pid);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => {
      const usage = m.stop();
      resolve({ status, stdout, stderr, ms: performance.now() - t0, ...usage });
    });
    child.stdin.end(input);
  });
}

/** Parses Prometheus text into `{ "name" or "name{labels}": value }`. */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Starts a relay process (see the API at the top). */
export async function startRelay({ dir, flags = [], env = {} }) {
  const dataDir = join(dir, "relay");
  const handle = await startChild(
    process.execPath,
    [...nodeFlags(), RELAY_CLI, "--host", "127.0.0.1", "--port", "0", "--data", dataDir, ...flags],
    {
      name: "weft relay",
      env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info", ...env },
      ready: (line) => {
        try {
          return JSON.parse(line).url;
        } catch {
          return undefined;
        }
      },
    },
  );
  const m = meter(handle.pid);
  return {
    url: handle.value,
    pid: handle.pid,
    dataDir,
    handle,
    metrics: async () =>
      parseMetrics(await (await globalThis.fetch(`${handle.value}/metrics`)).text()),
    usage: () => m.sample(),
    stop: async () => {
      const usage = m.stop();
      await handle.stop();
      return usage;
    },
  };
}

/** An agent with its home and folder under DIR/NAME (see the API at the top). */
export function makeAgent({ dir, name, relayUrl }) {
  const home = join(dir, name, "home");
  const folder = join(dir, name, "folder");
  mkdirSync(folder, { recursive: true });
  const env = {
    ...process.env,
    WEFT_HOME: home,
    WEFT_PASSWORD: `${name}-bench-password`,
  };
  let daemon;
  let daemonMeter;
  const agent = {
    name,
    home,
    folder,
    env,
    relayUrl,
    folderId: undefined,
    async weft(args, { input } = {}) {
      const r = await runNode([WEFT_CLI, ...args, "--json"], { env, input });
      let json;
      try {
        json = JSON.parse(r.stdout);
      } catch {
        json = undefined;
      }
      if (r.status !== 0 || !json)
        throw new Error(
          `weft ${args.join(" ")} (${name}) exited ${r.status}: ${r.stderr}${r.stdout}`,
        );
      return json;
    },
    /** Like `weft`, with the run's { json, cpuSeconds, peakRssBytes, ms }. */
    async weftMeasured(args, { input } = {}) {
      const r = await runNode([WEFT_CLI, ...args, "--json"], { env, input });
      if (r.status !== 0)
        throw new Error(
          `weft ${args.join(" ")} (${name}) exited ${r.status}: ${r.stderr}${r.stdout}`,
        );
      return {
        json: JSON.parse(r.stdout),
        cpuSeconds: r.cpuSeconds,
        peakRssBytes: r.peakRssBytes,
        ms: r.ms,
      };
    },
    async enroll() {
      await agent.weft(["init"]);
      await agent.weft(["account", "register", "--relay", relayUrl, "--user", name]);
    },
    async startDaemon(args = []) {
      if (daemon) throw new Error(`${name}: a daemon is running already`);
      daemon = await startChild(process.execPath, [...nodeFlags(), WEFT_CLI, "sync", ...args], {
        name: `weft sync (${name})`,
        env,
        timeoutMs: 120_000,
        ready: (line) => (line.startsWith("syncing ") ? true : undefined),
      });
      daemonMeter = meter(daemon.pid);
      return daemon;
    },
    daemonUsage: () => daemonMeter?.sample(),
    async stopDaemon() {
      if (!daemon) return null;
      const usage = daemonMeter.stop();
      const exit = await daemon.stop(10_000);
      daemon = undefined;
      return { ...usage, exit };
    },
    daemonLogs: () => daemon?.logs() ?? "",
    storedStatus() {
      if (!agent.folderId) return undefined;
      try {
        return JSON.parse(
          readFileSync(join(home, "folders", agent.folderId, "status.json"), "utf8"),
        );
      } catch {
        return undefined;
      }
    },
    async waitOnline(ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const s = agent.storedStatus();
        if (s && s.connection === "online" && s.state === "idle" && s.pendingOut === 0) return s;
        if (Date.now() > end)
          throw new Error(`${name}: not online and idle after ${ms} ms: ${JSON.stringify(s)}`);
        await sleep(50);
      }
    },
    async syncOnce(args = []) {
      const r = await runNode([WEFT_CLI, "sync", "--once", ...args, "--json"], { env });
      if (r.status !== 0)
        throw new Error(`weft sync --once (${name}) exited ${r.status}: ${r.stderr}${r.stdout}`);
      return {
        json: JSON.parse(r.stdout),
        cpuSeconds: r.cpuSeconds,
        peakRssBytes: r.peakRssBytes,
        ms: r.ms,
      };
    },
    async status() {
      const json = await agent.weft(["status"]);
      return json.folders?.[0];
    },
  };
  return agent;
}

/** N enrolled agents sharing one folder (see the API at the top). */
export async function shareFolder({ dir, relayUrl, devices = 2, names }) {
  const agents = [];
  for (let i = 0; i < devices; i++) {
    const agent = makeAgent({ dir, name: names?.[i] ?? `device${i}`, relayUrl });
    await agent.enroll();
    agents.push(agent);
  }
  const [owner, ...guests] = agents;
  const { folderId } = await owner.weft(["folder", "create", owner.folder]);
  owner.folderId = folderId;
  for (const guest of guests) {
    const { invite } = await owner.weft(["folder", "invite", folderId, "--role", "editor"]);
    await guest.weft(["folder", "join", "-", guest.folder], { input: `${invite}\n` });
    guest.folderId = folderId;
  }
  return { agents, folderId };
}

/** A byte-counting TCP proxy in front of `targetUrl` (see the API at the top). */
export function countingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const counts = { up: 0, down: 0 };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("data", (d) => (counts.up += d.length));
    upstream.on("data", (d) => (counts.down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        get up() {
          return counts.up;
        },
        get down() {
          return counts.down;
        },
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Names of Weft's temp files under `dir` (downloads in progress), for diagnostics. */
export function weftTempFiles(dir) {
  return readdirSync(dir, { recursive: true }).filter((p) => String(p).includes(".weft-tmp-"));
}

/** `invite` (weft1:base64url(JSON)) naming `relayUrl` as its relay instead. */
export function retargetInvite(invite, relayUrl) {
  const prefix = "weft1:";
  if (!invite.startsWith(prefix)) throw new Error(`not an invite: ${invite.slice(0, 12)}…`);
  const body = JSON.parse(Buffer.from(invite.slice(prefix.length), "base64url").toString("utf8"));
  body.relay = relayUrl;
  return prefix + Buffer.from(JSON.stringify(body)).toString("base64url");
}

/**
 * A relay and two agents A and B sharing a folder, both daemons running and online: the setup
 * of the latency and delta benches. With `viaProxy`, each agent talks to the relay through its
 * own {@link countingProxy} (`proxies.a.up` is what A sent). `stop()` stops everything and
 * returns each process's usage.
 */
export async function runningPair({ dir, relayFlags = ["--rate-limit", "0"], viaProxy = false }) {
  const relay = await startRelay({ dir, flags: relayFlags });
  const proxies = viaProxy
    ? { a: await countingProxy(relay.url), b: await countingProxy(relay.url) }
    : null;
  const a = makeAgent({ dir, name: "a", relayUrl: proxies?.a.url ?? relay.url });
  const b = makeAgent({ dir, name: "b", relayUrl: proxies?.b.url ?? relay.url });
  await a.enroll();
  await b.enroll();
  const { folderId } = await a.weft(["folder", "create", a.folder]);
  a.folderId = folderId;
  const { invite } = await a.weft(["folder", "invite", folderId, "--role", "editor"]);
  // B joins through its own proxy: the invite names the relay A used, A's proxy.
  await b.weft(["folder", "join", "-", b.folder], {
    input: `${proxies ? retargetInvite(invite, proxies.b.url) : invite}\n`,
  });
  b.folderId = folderId;
  await a.startDaemon();
  await b.startDaemon();
  await Promise.all([a.waitOnline(), b.waitOnline()]);
  return {
    relay,
    a,
    b,
    proxies,
    folderId,
    async stop() {
      const usage = { a: await a.stopDaemon(), b: await b.stopDaemon(), relay: await relay.stop() };
      if (proxies) await Promise.all([proxies.a.close(), proxies.b.close()]);
      return usage;
    },
  };
}
