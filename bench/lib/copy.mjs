// The two baselines that are not sync engines: rsync pushing a tree to an rsync daemon on
// loopback (what a user scripts instead of a sync tool), and `cp -a` (the disk's ceiling: no
// network, no hashing, no fsync).
//
// API
//   rsyncVersion() → "3.5.0" or null
//   startRsyncDaemon({ dir, dest }) → daemon   `rsync --daemon --no-detach` on 127.0.0.1 (a
//       free port), module "mod" writing to `dest`; daemon.url ("rsync://127.0.0.1:PORT/mod/"),
//       daemon.usage(), daemon.stop() → { cpuSeconds, peakRssBytes } of the daemon and its forks
//   rsyncPush(src, url) → { ms, cpuSeconds, peakRssBytes }   `rsync -a SRC/ URL` (the client)
//   copyTree(src, dest) → { ms, cpuSeconds, peakRssBytes }   `cp -a SRC/. DEST`
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, startChild } from "./procs.mjs";
import { meter, runTimed } from "./usage.mjs";

/** The installed rsync's version, or null. */
export function rsyncVersion() {
  const r = spawnSync("rsync", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return /version (\S+)/.exec(r.stdout)?.[1] ?? null;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
const accepts = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** An rsync daemon serving `dest` as module "mod" (see the API at the top). */
export async function startRsyncDaemon({ dir, dest }) {
  const config = join(dir, "rsyncd.conf");
  // uid/gid: as root, rsyncd would drop to "nobody", which cannot write `dest`.
  const ids = process.getuid?.() === 0 ? "  uid = root\n  gid = root\n" : "";
  writeFileSync(config, `use chroot = false\n[mod]\n  path = ${dest}\n  read only = false\n${ids}`);
  const port = await freePort();
  // Node's pipes are sockets, which rsync cannot open as a log file: it logs to a file, and
  // readiness is a TCP connect that succeeds. `exec` keeps the pid rsync's own.
  const argv = [
    "--daemon",
    "--no-detach",
    `--config=${config}`,
    `--port=${port}`,
    "--address=127.0.0.1",
    `--log-file=${join(dir, "rsyncd.log")}`,
  ];
  const handle = await startChild("sh", ["-c", 'echo started; exec rsync "$@"', "sh", ...argv], {
    name: "rsync daemon",
    ready: (line) => (line === "started" ? true : undefined),
  });
  for (let i = 0; !(await accepts(port)); i++) {
    if (i > 200) throw new Error(`rsync daemon: nothing listens on ${port}: ${handle.logs()}`);
    await sleep(25);
  }
  const m = meter(handle.pid);
  return {
    url: `rsync://127.0.0.1:${port}/mod/`,
    pid: handle.pid,
    usage: () => m.sample(),
    stop: async () => {
      const usage = m.stop();
      await handle.stop();
      return usage;
    },
  };
}

/** `rsync -a SRC/ URL`, timed (see the API at the top). */
export const rsyncPush = (src, url) => runTimed("rsync", ["-a", `${src}/`, url]);

/** `cp -a SRC/. DEST`, timed (see the API at the top). */
export const copyTree = (src, dest) => runTimed("cp", ["-a", `${src}/.`, dest]);
