// Syncthing (Debian's `syncthing`, /usr/bin/syncthing) as the baseline of the sync benchmarks:
// two instances on loopback, each with its own --home, introduced to each other by static
// address, sharing one send-receive folder with the file-system watcher on. Everything that
// talks to the internet is off (global and local discovery, relays, NAT traversal, usage and
// crash reporting, upgrades); the rest is Syncthing's default (compression "metadata", no rate
// limits), so the comparison is with Syncthing as a user gets it on a LAN. `SETTINGS` below is
// recorded in every result.
//
// API
//   syncthingVersion() → "v1.19.2-ds1" (or null when it is not installed)
//   syncthingPair({ dir, folders: [pathA, pathB], watcherDelayS? = 10, folderId? }) → pair
//       generates keys and config for DIR/st-a and DIR/st-b (nothing started yet).
//   pair.start()      starts B, then A once B's API answers (so A's first dial finds B
//                     listening: started together, each may dial the other before it listens and
//                     then back off for 1, 2, 4, 8… s, a delay of up to ~15 s that is noise, not
//                     speed); resolves once both APIs answer
//   pair.stop()       SIGTERM to both; resolves with [{ cpuSeconds, peakRssBytes }, …] (A, B)
//   pair.a, pair.b    instances: { name, home, folder, deviceId, guiUrl, apiKey, pid }
//   pair.rest(inst, path, { method?, body? }) → parsed JSON of the REST call
//   pair.waitConnected(ms?)     until each sees the other connected
//   pair.folderStatus(inst)     /rest/db/status for the folder (state, needFiles, globalFiles, …)
//   pair.completion(inst, of)   /rest/db/completion: how complete `of`'s copy is, seen from `inst`
//   pair.wireBytes(inst)        { in, out } totals of /rest/system/connections (TLS, compressed)
//   pair.waitIdle(inst, files, ms?)  until the folder is idle with nothing needed and `files`
//                                    files in the global view
//   pair.usage()      [{ cpuSeconds, peakRssBytes }, …] so far
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, startChild } from "./procs.mjs";
import { meter } from "./usage.mjs";

const BIN = process.env.WEFT_BENCH_SYNCTHING ?? "syncthing";

/** What this driver changes from a fresh `syncthing generate` config, and why. */
export const SETTINGS = {
  "options.globalAnnounceEnabled": false, // no internet: devices are given static addresses
  "options.localAnnounceEnabled": false,
  "options.relaysEnabled": false,
  "options.natEnabled": false,
  "options.urAccepted": -1, // usage reporting declined
  "options.crashReportingEnabled": false,
  "options.autoUpgradeIntervalH": 0,
  "options.startBrowser": false,
  "options.listenAddress": "tcp://127.0.0.1:PORT (TCP only: no QUIC over loopback)",
  // Default true: Syncthing lowers its own CPU and I/O priority. Weft's processes run at
  // normal priority, so on a shared machine a niced Syncthing would be slowed by other load.
  "options.setLowPriority": false,
  "device.compression": "metadata (the default)",
  "device/options maxSendKbps, maxRecvKbps": "0 (the default: no rate limit)",
  "folder.type": "sendreceive",
  "folder.fsWatcherEnabled": true,
  "folder.fsWatcherDelayS": "10 (the default) unless a bench sets it",
  "folder (everything else)": "the defaults of the generated config",
};

/** The installed version, e.g. "v1.19.2-ds1", or null. */
export function syncthingVersion() {
  const r = spawnSync(BIN, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return /syncthing (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
}

const setTag = (xml, tag, value) => {
  const re = new RegExp(`<${tag}>[^<]*</${tag}>`);
  if (!re.test(xml)) throw new Error(`syncthing config has no <${tag}>`);
  return xml.replace(re, `<${tag}>${value}</${tag}>`);
};

/** `syncthing generate` into `home`; returns the device id. */
function generate(home) {
  mkdirSync(home, { recursive: true });
  const r = spawnSync(BIN, ["generate", `--home=${home}`, "--no-default-folder"], {
    encoding: "utf8",
    env: { ...process.env, STNODEFAULTFOLDER: "1" },
  });
  const id = /Device ID:\s*(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1];
  if (r.status !== 0 || !id) throw new Error(`syncthing generate failed: ${r.stderr}${r.stdout}`);
  return id;
}

/** Rewrites the generated config.xml of `self` for the pair (see SETTINGS). */
function configure(self, peer, { folderId, watcherDelayS }) {
  const path = join(self.home, "config.xml");
  let xml = readFileSync(path, "utf8");
  const own = /<device id="[^"]+"[^>]*>[\s\S]*?<\/device>/.exec(xml)[0];
  const device = (d) =>
    own
      .replace(/id="[^"]+"/, `id="${d.deviceId}"`)
      .replace(/name="[^"]*"/, `name="${d.name}"`)
      .replace(/<address>[^<]*<\/address>/, `<address>tcp://127.0.0.1:${d.listenPort}</address>`);
  const defaults = /<defaults>\s*(<folder [\s\S]*?<\/folder>)/.exec(xml)[1];
  const folder = defaults
    .replace(/ id=""/, ` id="${folderId}"`)
    .replace(/ label=""/, ` label="bench"`)
    .replace(/ path="[^"]*"/, ` path="${self.folder}"`)
    .replace(/ fsWatcherEnabled="[^"]*"/, ` fsWatcherEnabled="true"`)
    .replace(/ fsWatcherDelayS="[^"]*"/, ` fsWatcherDelayS="${watcherDelayS}"`)
    .replace(
      /<device id="[^"]+" introducedBy="">[\s\S]*?<\/device>/,
      [self, peer]
        .map(
          (d) =>
            `<device id="${d.deviceId}" introducedBy=""><encryptionPassword></encryptionPassword></device>`,
        )
        .join("\n            "),
    );
  xml = xml.replace(own, `${folder}\n    ${device(self)}\n    ${device(peer)}`);
  xml = xml.replace(
    /<gui [^>]*>[\s\S]*?<\/gui>/,
    `<gui enabled="true" tls="false" debugging="false">\n        <address>127.0.0.1:${self.guiPort}</address>\n        <apikey>${self.apiKey}</apikey>\n        <theme>default</theme>\n    </gui>`,
  );
  const options = {
    listenAddress: `tcp://127.0.0.1:${self.listenPort}`,
    globalAnnounceEnabled: "false",
    localAnnounceEnabled: "false",
    relaysEnabled: "false",
    natEnabled: "false",
    urAccepted: "-1",
    crashReportingEnabled: "false",
    autoUpgradeIntervalH: "0",
    startBrowser: "false",
    setLowPriority: "false",
  };
  for (const [tag, value] of Object.entries(options)) xml = setTag(xml, tag, value);
  writeFileSync(path, xml);
}

/** Two configured, not yet started instances (see the API at the top). */
export async function syncthingPair({ dir, folders, watcherDelayS = 10, folderId = "weftbench" }) {
  const make = async (name, folder) => ({
    name,
    home: join(dir, `st-${name}`),
    folder,
    apiKey: randomBytes(18).toString("base64url"),
    guiPort: await freePort(),
    listenPort: await freePort(),
  });
  const a = await make("a", folders[0]);
  const b = await make("b", folders[1]);
  for (const inst of [a, b]) {
    inst.deviceId = generate(inst.home);
    inst.guiUrl = `http://127.0.0.1:${inst.guiPort}`;
    // The folder marker Syncthing creates when a folder is added; without it, it refuses to sync.
    mkdirSync(join(inst.folder, ".stfolder"), { recursive: true });
  }
  configure(a, b, { folderId, watcherDelayS });
  configure(b, a, { folderId, watcherDelayS });

  const running = new Map(); // inst → { handle, meter }
  const rest = async (inst, path, { method = "GET", body } = {}) => {
    const res = await globalThis.fetch(`${inst.guiUrl}${path}`, {
      method,
      headers: { "X-API-Key": inst.apiKey, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`syncthing ${inst.name} ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const start = async (inst) => {
    const handle = await startChild(
      BIN,
      [
        "serve",
        `--home=${inst.home}`,
        "--no-browser",
        "--no-restart",
        "--no-upgrade",
        "--logflags=0",
        `--gui-address=http://127.0.0.1:${inst.guiPort}`,
        `--gui-apikey=${inst.apiKey}`,
      ],
      {
        name: `syncthing ${inst.name}`,
        env: { ...process.env, STNODEFAULTFOLDER: "1", STNORESTART: "1", STNOUPGRADE: "1" },
        ready: (line) => (/GUI and API listening on/.test(line) ? true : undefined),
      },
    );
    inst.pid = handle.pid;
    running.set(inst, { handle, meter: meter(handle.pid) });
  };
  const pair = {
    a,
    b,
    folderId,
    watcherDelayS,
    rest,
    async start() {
      await start(b);
      await start(a);
    },
    usage: () => [a, b].map((i) => running.get(i)?.meter.sample() ?? null),
    async stop() {
      const usage = [];
      for (const inst of [a, b]) {
        const r = running.get(inst);
        if (!r) {
          usage.push(null);
          continue;
        }
        usage.push(r.meter.stop());
        await r.handle.stop(10_000);
        running.delete(inst);
      }
      return usage;
    },
    logs: (inst) => running.get(inst)?.handle.logs() ?? "",
    async waitConnected(ms = 120_000) {
      const end = Date.now() + ms;
      for (;;) {
        const [ca, cb] = await Promise.all([
          rest(a, "/rest/system/connections"),
          rest(b, "/rest/system/connections"),
        ]);
        if (ca.connections[b.deviceId]?.connected && cb.connections[a.deviceId]?.connected) return;
        if (Date.now() > end) throw new Error(`syncthing: not connected after ${ms} ms`);
        await sleep(100);
      }
    },
    folderStatus: (inst) => rest(inst, `/rest/db/status?folder=${folderId}`),
    completion: (inst, of) =>
      rest(inst, `/rest/db/completion?folder=${folderId}&device=${of.deviceId}`),
    async wireBytes(inst) {
      const c = await rest(inst, "/rest/system/connections");
      return { in: c.total.inBytesTotal, out: c.total.outBytesTotal };
    },
    async waitIdle(inst, files, ms = 600_000) {
      const end = Date.now() + ms;
      for (;;) {
        const s = await pair.folderStatus(inst);
        if (s.state === "idle" && s.needTotalItems === 0 && s.globalFiles === files) return s;
        if (Date.now() > end)
          throw new Error(`syncthing ${inst.name}: not idle after ${ms} ms: ${JSON.stringify(s)}`);
        await sleep(100);
      }
    },
  };
  return pair;
}
