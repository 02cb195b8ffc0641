/**
 * Test helper: s3rver, a small S3-compatible server keeping objects in a temp directory, as a
 * child process, for the relay's S3 chunk store. A relay reaches it over the network as it
 * would real S3 (path-style addressing, credentials S3RVER/S3RVER, region us-east-1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** A running s3rver. */
export interface S3rverHandle {
  /** `http://127.0.0.1:PORT`: an S3 endpoint for clients with path-style addressing. */
  readonly endpoint: string;
  /** Where s3rver keeps the buckets: object KEY of BUCKET is `<directory>/BUCKET/KEY._S3rver_object`. */
  readonly directory: string;
  /** The access key id and secret s3rver accepts (both `S3RVER`), and the region to sign for. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly region: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Options of {@link startS3rver}. */
export interface S3rverOptions {
  /** Buckets to create before it listens (by default none: the relay creates its own). */
  buckets?: string[];
}

const bin = join(dirname(createRequire(import.meta.url).resolve("s3rver/package.json")), "bin");

/**
 * Starts s3rver (`s3rver.js --address 127.0.0.1 --port 0 --directory D --silent`) with a new
 * temp directory and an atomic PutObject (`s3rver-atomic-put.cjs`); resolves once it listens,
 * with the port it picked. Node runs it with the
 * legacy OpenSSL provider: s3rver 3.7 makes the continuation tokens of long listings with DES.
 */
export async function startS3rver(options: S3rverOptions = {}): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), "weft-s3rver-"));
  // Its PutObject made atomic, as real S3's is (see the preloaded file).
  const atomicPut = fileURLToPath(new URL("../s3rver-atomic-put.cjs", import.meta.url));
  const args = ["--require", atomicPut, join(bin, "s3rver.js"), "--address", "127.0.0.1"];
  args.push("--port", "0");
  args.push("--directory", directory, "--silent");
  for (const name of options.buckets ?? []) args.push("--configure-bucket", name);
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --openssl-legacy-provider`.trim(),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let port: number;
  try {
    port = await listeningPort(child);
  } catch (error) {
    child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    region: "us-east-1",
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once("exit", resolve));
          child.kill("SIGTERM");
          await exited;
        }
        await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** The port of the "S3rver listening on ADDRESS:PORT" line; rejects if it exits first. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = "";
    child.stderr?.on("data", (data: Buffer) => (output += data.toString()));
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      output += line + "\n";
      const match = /S3rver listening on [^:]+:(\d+)/.exec(line);
      if (match) {
        lines.removeAllListeners("line");
        child.stdout?.resume();
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}): ${output}`)));
  });
}
