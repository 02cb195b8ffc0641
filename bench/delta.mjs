#!/usr/bin/env node
// bench:delta — bytes device A sends to get a change of a large file to device B, after the
// file was synced once: a rename, a 1-byte insertion near its start, an append, a copy. Weft
// (two daemons and a relay) against Syncthing (two instances), the sync already running.
//
// What is counted:
//   weft       every byte A's agent sent to the relay and B's agent received from it, through a
//              byte-counting TCP proxy in front of the relay, one per agent (HTTP, WebSocket
//              framing and all: what crossed the wire); also the chunks the relay had to store
//              (new chunk files in its data directory) and A's `bytesUploaded` (sealed chunk
//              bytes, from the status the daemon reports);
//   syncthing  /rest/system/connections totals of A and B (bytes on the TLS connection).
// Each step waits until B has the expected bytes (SHA-256), then until the counters are quiet
// for 1.5 s. Runs against the built packages (`npm run build` first). Writes results/delta.json.
//
//   npm run bench:delta [-- --mib N] [-- --tools weft,syncthing] [-- --watcher-delay S] [-- --quick]
//   (--quick: a 16 MiB file, Syncthing's watcher delay 1 s; a CI smoke test that writes
//    results/delta.quick.json; --no-save: print the JSON, write nothing)
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { seededBuffer } from "./lib/input.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import {
  SETTINGS as SYNCTHING_SETTINGS,
  syncthingPair,
  syncthingVersion,
} from "./lib/syncthing.mjs";
import { sha256File } from "./lib/tree.mjs";
import { runningPair } from "./lib/weft.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = f.has("--quick");
const MiB = 1024 * 1024;
const SIZE = Math.round(f.num("--mib", quick ? 16 : 200) * MiB);
const TOOLS = f.str("--tools", "weft,syncthing").split(",");
/** Syncthing's watcher delay: its default, 10 s; a quick run takes 1 s (bytes do not change). */
const WATCHER_DELAY_S = f.num("--watcher-delay", quick ? 1 : 10);
const INSERT_AT = 1000;
const APPEND_BYTES = 64 * 1024;
const STEP_TIMEOUT_MS = 300_000;
const log = logger("delta");
const sha = (buf) => createHash("sha256").update(buf).digest("hex");

/** Resolves once B's `path` has `hash` (size first, hashing only a new size or mtime). */
async function hasOnB(dir, path, size, hash, t0) {
  let tried = "";
  for (;;) {
    let st;
    try {
      st = statSync(join(dir, path));
    } catch {
      st = null;
    }
    const key = st ? `${st.size}:${st.mtimeMs}:${st.ino}` : "";
    if (st && st.size === size && key !== tried) {
      tried = key;
      if (sha256File(join(dir, path)) === hash) return;
    }
    if (performance.now() - t0 > STEP_TIMEOUT_MS)
      throw new Error(`B did not get ${path} (${size} bytes) in ${STEP_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

async function goneOnB(dir, path, t0) {
  while (readdirSync(dir).includes(path)) {
    if (performance.now() - t0 > STEP_TIMEOUT_MS) throw new Error(`${path} stays on B`);
    await sleep(50);
  }
}

/** Waits until `read()` (a number) moved by at most 512 bytes over 1.5 s and `idle()` holds. */
async function quiet(read, idle = async () => true) {
  const end = Date.now() + 30_000;
  let last = await read();
  let since = Date.now();
  while (Date.now() < end) {
    await sleep(250);
    const now = await read();
    if (now - last > 512) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= 1500 && (await idle())) return;
  }
}

/** Chunk files the relay holds (ids), from its data directory. */
function relayChunks(dataDir) {
  const ids = new Set();
  let bytes = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith(".")) continue; // temp files, resumable parts
      if (e.isDirectory()) walk(join(d, e.name));
      else {
        ids.add(e.name);
        bytes += statSync(join(d, e.name)).size;
      }
    }
  };
  walk(join(dataDir, "chunks"));
  return { ids, bytes };
}

/**
 * The steps, each `{ name, act(a), expect: [path, size, hash] | null, gone?: path }`, over the
 * bytes of the file as it evolves. `a` is A's folder.
 */
function steps() {
  let content = seededBuffer("delta", SIZE);
  const hashes = [];
  const step = (name, act, path, gone) => {
    const run = (a) => act(a);
    return {
      name,
      run,
      path,
      gone,
      get size() {
        return content.length;
      },
      get hash() {
        return hashes.at(-1);
      },
    };
  };
  return [
    step(
      "initial sync",
      (a) => {
        writeFileSync(join(a, "big.bin"), content);
        hashes.push(sha(content));
      },
      "big.bin",
    ),
    step(
      "rename",
      (a) => renameSync(join(a, "big.bin"), join(a, "moved.bin")),
      "moved.bin",
      "big.bin",
    ),
    step(
      "insert 1 byte",
      (a) => {
        content = Buffer.concat([
          content.subarray(0, INSERT_AT),
          Buffer.from([0x2a]),
          content.subarray(INSERT_AT),
        ]);
        hashes.push(sha(content));
        writeFileSync(join(a, "moved.bin"), content); // in place: same inode, as an editor saving
      },
      "moved.bin",
    ),
    step(
      "append",
      (a) => {
        const tail = randomBytes(APPEND_BYTES);
        content = Buffer.concat([content, tail]);
        hashes.push(sha(content));
        appendFileSync(join(a, "moved.bin"), tail);
      },
      "moved.bin",
    ),
    step("copy", (a) => copyFileSync(join(a, "moved.bin"), join(a, "copy.bin")), "copy.bin"),
  ];
}

/** Runs the steps on a sync set up by `tool`, measuring each with `counters()`. */
async function runSteps(a, b, counters, idle) {
  const out = [];
  await quiet(async () => (await counters()).quiet, idle);
  for (const s of steps()) {
    const before = await counters();
    const t0 = performance.now();
    s.run(a);
    await hasOnB(b, s.path, s.size, s.hash, t0);
    if (s.gone) await goneOnB(b, s.gone, t0);
    const ms = performance.now() - t0;
    await quiet(async () => (await counters()).quiet, idle);
    const after = await counters();
    const delta = {};
    for (const k of Object.keys(after))
      if (k !== "quiet" && k !== "chunkIds") delta[k] = after[k] - before[k];
    if (after.chunkIds)
      delta.newChunks = [...after.chunkIds].filter((id) => !before.chunkIds.has(id)).length;
    out.push({ step: s.name, ms: round(ms), ...delta });
    log(`  ${s.name}: ${JSON.stringify(out.at(-1))}`);
  }
  return out;
}

const runners = {
  async weft(dir) {
    const pair = await runningPair({ dir, viaProxy: true });
    try {
      const counters = async () => {
        const chunks = relayChunks(pair.relay.dataDir);
        return {
          wireBytesSentByA: pair.proxies.a.up,
          wireBytesReceivedByA: pair.proxies.a.down,
          wireBytesReceivedByB: pair.proxies.b.down,
          sealedBytesUploadedByA: pair.a.storedStatus()?.bytesUploaded ?? 0,
          chunkIds: chunks.ids,
          quiet: pair.proxies.a.up + pair.proxies.b.down,
        };
      };
      const idle = async () => {
        const s = pair.a.storedStatus();
        return s?.state === "idle" && s.pendingOut === 0 && s.pendingChunks === 0;
      };
      const results = await runSteps(pair.a.folder, pair.b.folder, counters, idle);
      await pair.stop();
      return results;
    } finally {
      await pair.stop();
    }
  },
  async syncthing(dir) {
    const folders = [join(dir, "a"), join(dir, "b")];
    for (const d of folders) mkdirSync(d);
    const pair = await syncthingPair({ dir, folders, watcherDelayS: WATCHER_DELAY_S });
    try {
      await pair.start();
      await pair.waitConnected();
      const counters = async () => {
        const [wa, wb] = await Promise.all([pair.wireBytes(pair.a), pair.wireBytes(pair.b)]);
        return {
          wireBytesSentByA: wa.out,
          wireBytesReceivedByA: wa.in,
          wireBytesReceivedByB: wb.in,
          quiet: wa.out + wb.in,
        };
      };
      const idle = async () => {
        const [sa, sb] = await Promise.all([pair.folderStatus(pair.a), pair.folderStatus(pair.b)]);
        return sa.state === "idle" && sb.state === "idle" && sb.needTotalItems === 0;
      };
      const results = await runSteps(folders[0], folders[1], counters, idle);
      await pair.stop();
      return results;
    } finally {
      await pair.stop();
    }
  },
};

log(`a ${SIZE / MiB} MiB file; tools ${TOOLS.join(", ")}`);
const loadBefore = load();
const tools = {};
try {
  for (const tool of TOOLS) {
    if (!runners[tool]) throw new Error(`unknown tool ${tool}`);
    const dir = scratchDir(`delta-${tool}`, SIZE * 8);
    try {
      log(`${tool} …`);
      tools[tool] = { steps: await runners[tool](dir) };
    } finally {
      removeDir(dir);
    }
  }
} catch (error) {
  killAll();
  throw error;
}

const stepOf = (tool, name) => tools[tool]?.steps.find((s) => s.step === name);
const ratios = {};
for (const name of ["rename", "insert 1 byte", "append", "copy"]) {
  const w = stepOf("weft", name)?.wireBytesSentByA;
  const s = stepOf("syncthing", name)?.wireBytesSentByA;
  ratios[name] = w !== undefined && s ? round(w / s, 3) : null;
}
const result = {
  benchmark: "delta",
  command: ["npm run bench:delta", ...(argv.length ? ["--", ...argv] : [])].join(" "),
  quick,
  fileBytes: SIZE,
  insertAt: INSERT_AT,
  appendBytes: APPEND_BYTES,
  measuredHow: {
    weft: "wireBytes*: a byte-counting TCP proxy between each agent and the relay (HTTP + WebSocket, all of it); newChunks: chunk files the relay stored; sealedBytesUploadedByA: the agent's status bytesUploaded",
    syncthing: "wireBytes*: /rest/system/connections totals (TLS connection bytes)",
  },
  tools,
  ratiosWeftToSyncthingSentByA: ratios,
  goals: tools.weft
    ? [
        goal(
          "Weft 1-byte insertion: chunks re-sent",
          stepOf("weft", "insert 1 byte").newChunks,
          "≤",
          2,
        ),
        goal(
          "Weft rename: content bytes re-sent",
          stepOf("weft", "rename").sealedBytesUploadedByA,
          "≤",
          0,
        ),
      ]
    : [],
  settings: {
    weft: { relayFlags: ["--rate-limit", "0"], daemon: "weft sync (defaults)" },
    syncthing: {
      version: syncthingVersion(),
      ...SYNCTHING_SETTINGS,
      "folder.fsWatcherDelayS": WATCHER_DELAY_S,
    },
  },
  loadAverage: [loadBefore, load()],
  machine: machineInfo(null),
};
saveResult("delta", quick, result);
