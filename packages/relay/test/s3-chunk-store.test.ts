// S3ChunkStore against a real s3rver: the core BlobStore conformance suite and the relay's
// chunk-store suite (the same checks DiskBlobStore passes), plus what only S3 has.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { runBlobStoreTests } from "@weft/core/conformance";
import { WeftError } from "@weft/core";
import { type ChunkId, newFolderId, ready } from "@weft/crypto";
import { type S3rverHandle, startS3rver } from "@weft/test-support";
import { S3Bucket, S3ChunkStore, s3ChunkStores } from "../src/store/s3/index.js";
import { type RelayConfig, parseConfig } from "../src/config.js";
import { runChunkStoreTests } from "./helpers/chunk-store-suite.js";

const BUCKET = "weft-chunks";
let server: S3rverHandle | undefined;
let bucket: S3Bucket | undefined;

/** The s3rver of this file and a client of its bucket, started by the first test that asks. */
async function s3(): Promise<{ server: S3rverHandle; bucket: S3Bucket }> {
  server ??= await startS3rver();
  bucket ??= await S3Bucket.open({
    bucket: BUCKET,
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
  });
  return { server, bucket };
}

afterAll(async () => {
  bucket?.close();
  await server?.stop();
});

/** A new folder prefix: every test has its own part of the bucket. */
const newPrefix = (): string => `f/${randomBytes(8).toString("hex")}/`;

// 100 chunks rather than 1,000 in the bulk round-trip: each is a few requests to s3rver.
runBlobStoreTests(
  "S3ChunkStore",
  async () => {
    const { bucket: b } = await s3();
    const prefix = newPrefix();
    return {
      store: await S3ChunkStore.open(b, prefix),
      reopen: () => S3ChunkStore.open(b, prefix),
      teardown: () => Promise.resolve(),
    };
  },
  { manyChunks: 100 },
);

runChunkStoreTests("S3ChunkStore", async () => {
  const { server: s, bucket: b } = await s3();
  const prefix = newPrefix();
  /** s3rver keeps object `key` in this file; its mtime is the object's LastModified. */
  const fileOf = (key: string): string => join(s.directory, BUCKET, `${key}._S3rver_object`);
  const setTime = async (key: string, ms: number): Promise<void> => {
    const then = new Date(Date.now() - ms);
    await utimes(fileOf(key), then, then);
  };
  const keys = async (sub: string): Promise<string[]> =>
    (await b.list(`${prefix}${sub}`)).map((o) => o.key.slice(prefix.length));
  return {
    open: (options) => S3ChunkStore.open(b, prefix, options),
    // The last-touched time is the chunk's `touched` metadata: rewritten as a touch would.
    age: async (chunk, ms) => {
      await b.copy(`${prefix}c/${chunk}`, `${prefix}c/${chunk}`, Date.now() - ms);
    },
    touchedAgo: async (chunk) => Date.now() - (await b.head(`${prefix}c/${chunk}`))!.touched,
    ageQuarantined: (chunk, ms) => setTime(`${prefix}q/${chunk}`, ms),
    agePartial: async (chunk, ms) => {
      for (const key of await keys(`p/${chunk}/`)) await setTime(prefix + key, ms);
    },
    partials: () => keys("p/"),
    quarantineFiles: () => keys("q/"),
    addForeign: () => b.put(`${prefix}c/notes.txt`, Uint8Array.of(1), Date.now()),
    dispose: () => Promise.resolve(),
  };
});

describe("S3ChunkStore in a bucket", () => {
  const id = (hex: string): ChunkId => hex.padEnd(64, "0") as ChunkId;

  test("s3rver as the tests run it stores nothing of a PutObject cut off mid-body, as S3 does", async () => {
    // A relay killed mid-upload (the cluster tests do it) must not leave the first bytes of a
    // chunk that the store then serves as the chunk (see test-support's s3rver-atomic-put.cjs).
    const { server: s, bucket: b } = await s3();
    const key = `${newPrefix()}c/${id("ee")}`;
    // A PutObject of 1 MiB whose writer dies after 64 KiB (s3rver takes unsigned requests).
    const url = new URL(s.endpoint);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(
      `PUT /${BUCKET}/${key} HTTP/1.1\r\nHost: ${url.host}\r\n` +
        `Content-Length: ${1 << 20}\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    await new Promise<void>((resolve) => socket.write(Buffer.alloc(64 * 1024, 1), () => resolve()));
    socket.destroy();
    // What s3rver does with it has happened once a later request on it is answered.
    await b.put(`${newPrefix()}c/${id("ff")}`, Uint8Array.of(1), Date.now());
    expect(await b.head(key)).toBeUndefined();
  });

  test("chunks are objects f/<folder>/c/<id>; the folders are listed from the bucket", async () => {
    const { server: s } = await s3();
    const folders = await s3ChunkStores({
      bucket: "weft-listing",
      endpoint: s.endpoint,
      region: s.region,
      credentials: s.credentials,
    });
    await ready();
    const [one, two] = [newFolderId(), newFolderId()];
    const a = await folders.open(one, {});
    const b = await folders.open(two, {});
    await a.put(id("ab"), Uint8Array.of(1, 2, 3));
    await b.put(id("cd"), Uint8Array.of(4));
    expect(await readdir(join(s.directory, "weft-listing", "f", one, "c"))).toEqual(
      expect.arrayContaining([`${id("ab")}._S3rver_object`]) as unknown,
    );
    expect((await folders.folders()).sort()).toEqual([one, two].sort());
    await Promise.all([a.close(), b.close()]);
    await folders.close();
  });

  test("two relays on one prefix: one continues the other's upload, restores its quarantine", async () => {
    const { bucket: b } = await s3();
    const prefix = newPrefix();
    const options = { quarantineMs: 3600_000 };
    const [one, two] = await Promise.all([
      S3ChunkStore.open(b, prefix, options),
      S3ChunkStore.open(b, prefix, options),
    ]);
    const data = Uint8Array.from({ length: 25 }, (_, i) => i);
    expect(await one.putPart(id("aa"), 0, 25, data.subarray(0, 10))).toMatchObject({
      status: "partial",
    });
    expect(await two.uploadProgress(id("aa"))).toEqual({ received: 10, complete: false });
    expect(await two.putPart(id("aa"), 10, 25, data.subarray(10))).toEqual({ status: "stored" });
    expect(await one.get(id("aa"))).toEqual(data);
    // One collects a chunk into quarantine; the other's has-check brings it back for both.
    await one.put(id("bb"), Uint8Array.of(7));
    expect(await one.collect([id("bb")], 0)).toEqual({ deleted: [id("bb")], kept: [] });
    expect(await two.has([id("bb"), id("cc")])).toEqual([id("cc")]);
    expect(await one.get(id("bb"))).toEqual(Uint8Array.of(7));
    await Promise.all([one.close(), two.close()]);
  });

  test("a failing S3 is a WeftError STORAGE naming the operation, without credentials", async () => {
    const { server: s } = await s3();
    const secret = "not-the-right-secret-" + randomBytes(8).toString("hex");
    const error = await S3Bucket.open({
      bucket: "weft-unknown-key",
      endpoint: s.endpoint,
      region: s.region,
      credentials: { accessKeyId: "AKIAWRONGKEY", secretAccessKey: secret },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeftError);
    expect((error as WeftError).code).toBe("STORAGE");
    expect((error as Error).message).toMatch(/^S3 chunk store: (open|create) the bucket failed/);
    expect((error as Error).message).not.toMatch(new RegExp(`${secret}|AKIAWRONGKEY`));
  });
});

describe("configuration: --blobs and --s3-endpoint", () => {
  test("flags or environment choose the bucket; without them, the data directory", () => {
    expect(parseConfig([], {})).not.toHaveProperty("blobs");
    const flags = ["--blobs", "s3://weft-chunks", "--s3-endpoint", "http://127.0.0.1:9000/"];
    expect(parseConfig(flags, {})).toMatchObject({
      blobs: { kind: "s3", bucket: "weft-chunks", endpoint: "http://127.0.0.1:9000" },
    });
    const env = { WEFT_RELAY_BLOBS: "s3://weft.chunks-1" };
    expect((parseConfig([], env) as RelayConfig).blobs).toEqual({
      kind: "s3",
      bucket: "weft.chunks-1",
    });
  });

  test("a bad bucket, an endpoint alone, or one with credentials is refused, not echoed", () => {
    const refused = (argv: string[]): WeftError => {
      try {
        parseConfig(argv, {});
      } catch (error) {
        return error as WeftError;
      }
      throw new Error("accepted");
    };
    expect(refused(["--blobs", "s3://Bad_Bucket"]).code).toBe("INVALID_OPTIONS");
    expect(refused(["--blobs", "/var/chunks"]).message).toMatch(/s3:\/\/BUCKET/);
    expect(refused(["--s3-endpoint", "http://127.0.0.1:9000"]).message).toMatch(/--blobs/);
    const leaky = refused(["--blobs", "s3://b-1", "--s3-endpoint", "http://key:hunter2@h:9000"]);
    expect(leaky.message).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(leaky.message).not.toContain("hunter2");
  });
});
