// What the fault benches (crash-loop, chaos) share: a seeded generator, `weft sync` daemons that
// can be killed, stopped and restarted, a relay restartable on its own port and data, a random
// workload of atomic writes, edits, renames and deletes, and the convergence check.
//
// Convergence, as checked here (DESIGN.md §8, invariants 1, 2 and 4):
//   - every device's tree is identical in names and bytes, and holds no `.weft-tmp-*` file;
//   - every file on disk holds bytes the workload wrote (nothing partial, nothing invented);
//   - every version the workload wrote since the last check is on disk on every device, under
//     its name, a new name or as a conflict copy (a later check with `weft history` covers the
//     versions replaced or deleted after that);
//   - every daemon's own status says online, idle, nothing pending.
//
// Every write is atomic (written beside the folder, then renamed in): a file the workload is
// still writing is a state a user may create, but it would make "every file holds bytes the
// workload wrote" unprovable. Edits in place are covered by the agent's own tests.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { contentHashOf } from "@weft/core";
import { freePort, startChild } from "./procs.mjs";
import { RELAY_CLI, WEFT_CLI } from "./weft.mjs";

const execFileP = promisify(execFile);
const KNOWN_VERSIONS = fileURLToPath(new URL("./known-versions.mjs", import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;

/** A seeded generator (mulberry32) with the helpers a workload needs. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    /** A size spread evenly over orders of magnitude between lo and hi. */
    logSize: (lo, hi) =>
      Math.round(Math.exp(Math.log(lo) + next() * (Math.log(hi) - Math.log(lo)))),
  };
}

/** The SHA-256 of a file in hex, or null when it is gone. */
export async function sha256Of(path) {
  const hash = createHash("sha256");
  try {
    await pipeline(createReadStream(path, { highWaterMark: MiB }), hash);
  } catch (error) {
    if (error.code === "ENOENT") return null;
    throw error;
  }
  return hash.digest("hex");
}

const isTemp = (name) => name.startsWith(".weft-tmp-");
/** A conflict copy's name (`name.sync-conflict-YYYYMMDD-HHMMSS-<device>.ext`). */
export const isConflictCopy = (path) => path.includes(".sync-conflict-");

/**
 * A reader of one folder's tree that hashes a file again only when its size, mtime or inode
 * changed: the convergence check polls often, and must not compete with the daemons for the
 * CPU by re-reading unchanged gigabytes.
 */
export function treeReader(root) {
  const cache = new Map();
  return async function snapshot() {
    const files = new Map();
    const temps = [];
    const dirs = [];
    const walk = async (dir, rel) => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (error.code === "ENOENT" || error.code === "ENOTDIR") return;
        throw error;
      }
      for (const e of entries) {
        const path = rel ? `${rel}/${e.name}` : e.name;
        const abs = join(dir, e.name);
        if (e.isDirectory()) {
          dirs.push(path);
          await walk(abs, path);
        } else if (e.isFile()) {
          if (isTemp(e.name)) {
            temps.push(path);
            continue;
          }
          const s = await stat(abs).catch(() => null);
          if (!s) continue;
          const key = `${s.size}:${s.mtimeMs}:${s.ino}`;
          let hit = cache.get(path);
          if (hit?.key !== key) {
            const sha = await sha256Of(abs);
            if (sha === null) continue;
            hit = { key, sha, size: s.size };
            cache.set(path, hit);
          }
          files.set(path, { sha: hit.sha, size: hit.size, key });
        }
      }
    };
    await walk(root, "");
    return { files, temps, dirs: dirs.sort() };
  };
}

/** The differences between two snapshots, as lines a person reads (at most `max`). */
export function diffTrees(a, b, names = ["A", "B"], max = 10) {
  const out = [];
  for (const [path, fa] of a.files) {
    const fb = b.files.get(path);
    if (!fb) out.push(`${path}: only on ${names[0]}`);
    else if (fb.sha !== fa.sha)
      out.push(`${path}: differs (${fa.size} B on ${names[0]}, ${fb.size} B on ${names[1]})`);
  }
  for (const path of b.files.keys())
    if (!a.files.has(path)) out.push(`${path}: only on ${names[1]}`);
  return out.slice(0, max);
}

/**
 * What a restartable child process (lib/procs.mjs startChild) offers whatever it runs:
 * `current()` is its latest handle, replaced on each start.
 */
function childControls(current) {
  const running = () => {
    const h = current();
    return h !== undefined && h.child.exitCode === null && h.child.signalCode === null;
  };
  return {
    running,
    signals: {
      /** SIGKILL, and resolves once it is gone. */
      async kill() {
        if (!running()) return;
        const { child } = current();
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await gone;
      },
      pause: () => current().child.kill("SIGSTOP"),
      resume: () => current().child.kill("SIGCONT"),
      /** SIGTERM (SIGKILL after 10 s); resolves with the exit code. */
      stop: () => current()?.stop(10_000),
      logs: () => current()?.logs() ?? "",
    },
  };
}

/**
 * A `weft sync` daemon of `agent` (from lib/weft.mjs) that can be started again after a kill.
 * `args` are the daemon's flags (e.g. `--keepalive 1`).
 */
export function daemonOf(agent, args = []) {
  let handle;
  const ctl = childControls(() => handle);
  let startedAt = 0;
  const d = {
    agent,
    get pid() {
      return handle?.pid;
    },
    get running() {
      return ctl.running();
    },
    /** Starts `weft sync`; resolves once it says "syncing". */
    async start() {
      if (d.running) throw new Error(`${agent.name}: the daemon runs already`);
      startedAt = Date.now();
      handle = await startChild(process.execPath, [WEFT_CLI, "sync", "--rescan", "30", ...args], {
        name: `weft sync (${agent.name})`,
        env: agent.env,
        timeoutMs: 120_000,
        ready: (line) => (line.startsWith("syncing ") ? true : undefined),
      });
      return d;
    },
    ...ctl.signals,
    /** What this daemon itself last wrote to its status file (a status of an earlier daemon is undefined). */
    async status() {
      if (!agent.folderId || !d.running) return undefined;
      try {
        const s = JSON.parse(
          await readFile(join(agent.home, "folders", agent.folderId, "status.json"), "utf8"),
        );
        return s.pid === handle.pid && s.updated >= startedAt ? s : undefined;
      } catch {
        return undefined; // not written yet, or being replaced
      }
    },
    /** Online, idle, nothing pending either way, as the daemon itself says. */
    async settled() {
      const s = await d.status();
      return Boolean(
        s &&
        s.connection === "online" &&
        s.state === "idle" &&
        s.pendingOut === 0 &&
        s.pendingChunks === 0 &&
        s.upload.done === s.upload.total &&
        s.download.done === s.download.total,
      );
    },
  };
  return d;
}

/**
 * A relay process on a fixed port with its data in `dir`: killed, stopped and started again
 * on the same URL, as a person restarts theirs.
 */
export async function restartableRelay({ dir, flags = ["--rate-limit", "0"] }) {
  const port = await freePort();
  const dataDir = join(dir, "relay");
  let handle;
  const ctl = childControls(() => handle);
  const relay = {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    get pid() {
      return handle?.pid;
    },
    get running() {
      return ctl.running();
    },
    async start() {
      // The port was free when picked; after a kill -9 the kernel frees it at once (no
      // TIME_WAIT on a listening socket), so a restart gets it back.
      handle = await startChild(
        process.execPath,
        [RELAY_CLI, "--host", "127.0.0.1", "--port", String(port), "--data", dataDir, ...flags],
        {
          name: "weft relay",
          env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info" },
          ready: (line) => {
            try {
              return JSON.parse(line).url;
            } catch {
              return undefined;
            }
          },
        },
      );
      return relay;
    },
    ...ctl.signals,
  };
  return relay.start();
}

/**
 * Random edits on one device's folder: every write unique bytes, written beside the folder and
 * renamed in. `written` (sha → { path, device }) records every version, `fresh` the ones since
 * the last convergence check.
 */
export function workload({ rand, stage, written, fresh, largeMax = 24 * MiB }) {
  let serial = 0;
  const unique = (device, size) => {
    // A header makes every version distinct even for equal sizes; the rest is random.
    const head = Buffer.from(`${device} v${++serial} ${Date.now()}\n`);
    return size <= head.length ? head : Buffer.concat([head, randomBytes(size - head.length)]);
  };
  const put = async (agent, rel, bytes) => {
    const sha = createHash("sha256").update(bytes).digest("hex");
    // The index names content by the SHA-256 of its chunks' SHA-256s: kept to find the version
    // in `weft history` later, when its bytes are gone from every disk.
    const { contentHash } = await contentHashOf(bytes);
    const w = { path: rel, device: agent.name, size: bytes.length, contentHash };
    written.set(sha, w);
    fresh.set(sha, w);
    await mkdir(stage, { recursive: true });
    const temp = join(stage, `${agent.name}-${serial}`);
    await writeFile(temp, bytes);
    const target = join(agent.folder, rel);
    await mkdir(join(target, ".."), { recursive: true });
    await rename(temp, target);
    return sha;
  };
  const dirs = ["", "", "docs", "docs/old", "media", "src/a"];
  const newName = (device, ext = rand.pick([".txt", ".bin", ".md", ""])) => {
    const dir = rand.pick(dirs);
    return `${dir ? `${dir}/` : ""}f-${device}-${++serial}${ext}`;
  };
  return {
    /** A new file of `size` bytes on `agent`; its path. */
    async create(agent, size) {
      const rel = newName(agent.name);
      await put(agent, rel, unique(agent.name, size));
      return rel;
    },
    /** A large new file (between 1 MiB and `largeMax` bytes); its path. */
    async createLarge(agent, size = rand.logSize(MiB, largeMax)) {
      const rel = `media/large-${agent.name}-${++serial}.bin`;
      await put(agent, rel, unique(agent.name, size));
      return rel;
    },
    /**
     * `count` random operations on `agent`, on files of `tree` (path → { key }, the last
     * converged snapshot) not touched yet since then by this device (`touched` is updated).
     * A file that changed on this disk since the snapshot (another device's edit arrived) is
     * left alone: the workload must not overwrite a version it has not seen, or the check
     * that every version is still on a disk would fail for the workload's own doing.
     */
    async randomOps(agent, tree, touched, count) {
      const done = [];
      const small = () =>
        rand.chance(0.15) ? rand.logSize(256 * KiB, 4 * MiB) : rand.logSize(1, 64 * KiB);
      for (let i = 0; i < count; i++) {
        const candidates = [...tree.keys()].filter((p) => !touched.has(p) && !isConflictCopy(p));
        const op =
          candidates.length === 0
            ? "create"
            : rand.pick(["create", "create", "edit", "edit", "rename", "delete"]);
        if (op === "create") {
          const size = small();
          const rel = newName(agent.name);
          touched.add(rel);
          await put(agent, rel, unique(agent.name, size));
          done.push(`create ${rel} (${size} B)`);
          continue;
        }
        const path = rand.pick(candidates);
        touched.add(path);
        const abs = join(agent.folder, path);
        const size = op === "edit" ? small() : 0;
        const s = await stat(abs).catch(() => null);
        if (!s || `${s.size}:${s.mtimeMs}:${s.ino}` !== tree.get(path).key) {
          done.push(`${op} ${path}: skipped (changed here since the last check)`);
          continue;
        }
        if (op === "edit") {
          await put(agent, path, unique(agent.name, size));
          done.push(`edit ${path} (${size} B)`);
        } else if (op === "rename") {
          const to = newName(agent.name);
          touched.add(to);
          await mkdir(join(agent.folder, to, ".."), { recursive: true });
          await rename(abs, join(agent.folder, to)).catch((e) => {
            if (e.code !== "ENOENT") throw e;
          });
          done.push(`rename ${path} -> ${to}`);
        } else {
          await rm(abs, { force: true });
          done.push(`delete ${path}`);
        }
      }
      return done;
    },
  };
}

/**
 * Waits until every device's tree is the same, holds no temp file and nothing the workload did
 * not write, and every daemon says it is settled — twice in a row, 300 ms apart. Returns
 * `{ ok, ms, problems, snapshots, unverified }` (one snapshot per device): `problems` says what was still wrong at the
 * deadline; `unverified` lists the versions in `fresh` no disk holds any more. Those are either
 * lost or were replaced on their device by a later workload step in the moment between the
 * step's look at the file and its write (a race of the workload's, not the agent's), so they
 * are left for {@link lostVersions} to look up in history. `fresh` is cleared.
 */
export async function waitConverged({ daemons, readers, fresh, written, timeoutMs = 90_000 }) {
  const t0 = performance.now();
  let good = 0;
  let problems = [];
  const names = daemons.map((d) => d.agent.name);
  for (;;) {
    problems = [];
    const snaps = await Promise.all(readers.map((r) => r()));
    for (let i = 1; i < snaps.length; i++)
      for (const line of diffTrees(snaps[0], snaps[i], [names[0], names[i]], 5))
        problems.push(line);
    snaps.forEach((s, i) => {
      for (const t of s.temps) problems.push(`${names[i]}: temp file ${t}`);
      // Nothing partial or invented: every file holds bytes the workload wrote.
      for (const [path, f] of s.files)
        if (!written.has(f.sha))
          problems.push(`${names[i]}: ${path} holds bytes nobody wrote (${f.size} B)`);
    });
    const settled = await Promise.all(daemons.map((d) => d.settled()));
    settled.forEach((ok, i) => {
      if (!ok) problems.push(`${names[i]}: daemon not settled`);
    });
    if (problems.length === 0) {
      if (++good >= 2) {
        const present = new Set([...snaps[0].files.values()].map((f) => f.sha));
        const unverified = [...fresh].filter(([sha]) => !present.has(sha)).map(([, w]) => w);
        fresh.clear();
        return {
          ok: true,
          ms: performance.now() - t0 - 300,
          problems,
          snapshots: snaps,
          unverified,
        };
      }
    } else good = 0;
    if (performance.now() - t0 > timeoutMs)
      return { ok: false, ms: performance.now() - t0, problems, snapshots: snaps, unverified: [] };
    await sleep(problems.length === 0 ? 300 : 100);
  }
}

/**
 * With `agent`'s daemon stopped: the versions in `written` its replica does not know (neither
 * current, a conflict, nor in history), as lines. Every version is checked, also those
 * replaced or deleted long ago.
 */
export async function lostVersions(agent, written) {
  const { stdout } = await execFileP(process.execPath, [KNOWN_VERSIONS], {
    env: agent.env,
    maxBuffer: 64 * MiB,
  });
  const known = new Set(JSON.parse(stdout).contentHashes);
  const lost = [];
  for (const w of written.values())
    if (!known.has(w.contentHash))
      lost.push(
        `${agent.name}: ${w.device}'s version of ${w.path} (${w.size} B) is lost: not current, no conflict, not in history`,
      );
  return lost;
}

/** Bytes in `dir` (recursively); 0 when it does not exist. */
export async function dirBytes(dir) {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries)
    if (e.isFile())
      total += await stat(join(e.parentPath ?? e.path, e.name)).then(
        (s) => s.size,
        () => 0,
      );
  return total;
}

/** The paths process `pid` has open, from /proc (Linux); empty elsewhere or when it is gone. */
export async function openPaths(pid) {
  const dir = `/proc/${pid}/fd`;
  const fds = await readdir(dir).catch(() => []);
  const { readlink } = await import("node:fs/promises");
  const out = [];
  for (const fd of fds) {
    const target = await readlink(join(dir, fd)).catch(() => null);
    if (target?.startsWith("/")) out.push(target);
  }
  return out;
}

export { KiB, MiB };
