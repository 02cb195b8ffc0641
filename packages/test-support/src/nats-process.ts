/**
 * Test helper: a NATS server of a test's own (Debian's `nats-server`, no JetStream, nothing kept
 * on disk) on a fixed free port, so that the test can stop it and start it again where the
 * relays that use it expect it, as an operator's NATS restart would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { pickFreePort } from "./free-port.js";

/** A running (or stopped) nats-server. */
export interface NatsHandle {
  /** `nats://127.0.0.1:PORT`, the same across restarts. */
  readonly url: string;
  readonly port: number;
  /** Kills it (SIGKILL, as a crash); resolves once it exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good. */
  stop(): Promise<void>;
}

/** Starts `nats-server -a 127.0.0.1 -p PORT` on a free port; resolves once it accepts connections. */
export async function startNatsServer(): Promise<NatsHandle> {
  const port = await pickFreePort();
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const proc = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child = proc;
    let output = "";
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new Error(`nats-server exited (${code}): ${output}`)));
    });
    await Promise.race([accepting(port), failed]);
  };
  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
  };
  await launch();
  return { url: `nats://127.0.0.1:${port}`, port, kill, start: launch, stop: kill };
}

/** Resolves once a TCP connection to the port succeeds (retrying every 20 ms). */
async function accepting(port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
