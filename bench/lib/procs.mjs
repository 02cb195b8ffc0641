// Child processes of a benchmark (servers under test): started, tracked and always killed — on
// normal exit, on an error, on SIGINT/SIGTERM/SIGHUP — plus what Linux's /proc says about them.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { clearTimeout, setTimeout } from "node:timers";

const children = new Set();
let hooked = false;

/** SIGKILLs every child still running. Synchronous, so it is safe in an "exit" handler. */
export function killAll() {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  children.clear();
}

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ])
    process.on(signal, () => {
      killAll();
      process.exit(code);
    });
}

/**
 * Starts `command args…` with stdout and stderr piped (and always drained) and waits until
 * `ready(line)` returns something other than undefined for a line of either stream; resolves
 * with that value and a handle. Rejects (and kills the child) if it exits or `timeoutMs` passes
 * first. The child is killed when this process exits, however it exits.
 */
export function startChild(command, args, { env, ready, timeoutMs = 30_000, name = command }) {
  hookExit();
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const tail = [];
  const remember = (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  const handle = {
    name,
    child,
    pid: child.pid,
    /** The last lines it wrote (both streams). */
    logs: () => tail.join("\n"),
    /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (or signal). */
    stop: (graceMs = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve(child.exitCode ?? child.signalCode);
      return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          resolve(code ?? signal);
        });
        child.kill("SIGTERM");
      });
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        child.kill("SIGKILL");
        reject(error);
      } else resolve({ ...handle, value });
    };
    const timer = setTimeout(
      () => finish(new Error(`${name} did not start within ${timeoutMs} ms:\n${handle.logs()}`)),
      timeoutMs,
    );
    child.once("error", (error) => finish(error));
    child.once("exit", (code, signal) =>
      finish(
        new Error(`${name} exited (${code ?? signal}) before it was ready:\n${handle.logs()}`),
      ),
    );
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream }).on("line", (line) => {
        remember(line);
        if (done) return;
        const value = ready(line);
        if (value !== undefined) finish(null, value);
      });
  });
}

/** Resident set of process `pid` in bytes (Linux VmRSS), or null where /proc is missing. */
export function rssOf(pid) {
  try {
    const kib = /^VmRSS:\s*(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) process `pid` has used so far (Linux), or null. */
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), 1-based: 14 utime, 15 stime.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of this process so far. */
export function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot listen on port 0 and say so). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
