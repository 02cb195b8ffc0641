// A relay process whose chunks live in an S3 bucket (s3rver): `--blobs s3://BUCKET
// --s3-endpoint URL`, credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. A client seals
// chunks, uploads them through the relay's HTTP API (whole, in a batch, in resumable parts) and
// reads them back; then every object in the bucket is read: none holds a byte of plaintext.
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import { HTTP_BLOB_PART_BYTES, HttpBlobStore } from "@weft/core";
import {
  type ChunkId,
  type FolderId,
  chunkIdFromSha256,
  deriveFolderSubkeys,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  openChunk,
  ready,
  sealChunk,
  sha256,
} from "@weft/crypto";
import {
  type RelayProcess,
  type S3rverHandle,
  call,
  signUp,
  startRelayProcess,
  startS3rver,
} from "@weft/test-support";
import { afterAll, beforeAll, expect, test } from "vitest";

const BUCKET = "weft-relay-e2e";
let s3: S3rverHandle;
let relay: RelayProcess;

beforeAll(async () => {
  await ready();
  s3 = await startS3rver();
  // No bucket yet: the relay creates it.
  relay = await startRelayProcess(
    {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_REGION: s3.region,
    },
    undefined,
    { args: ["--blobs", `s3://${BUCKET}`, "--s3-endpoint", s3.endpoint] },
  );
});

afterAll(async () => {
  await relay?.dispose();
  await s3?.stop();
});

/** Every object in the bucket: key and bytes, read through the S3 API. */
async function everyObject(): Promise<{ key: string; bytes: Uint8Array }[]> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: s3.region,
    credentials: s3.credentials,
  });
  const out: { key: string; bytes: Uint8Array }[] = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      out.push({ key: o.Key!, bytes: await got.Body!.transformToByteArray() });
    }
    token = page.NextContinuationToken;
  } while (token !== undefined);
  client.destroy();
  return out;
}

test("chunks uploaded and downloaded through a relay on S3 are only ciphertext in the bucket", async () => {
  const owner = await signUp(relay.url, "owner", generateDeviceIdentity());
  const folderId: FolderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, owner)).status).toBe(201);
  const keys = deriveFolderSubkeys(generateFolderKey(), 1);
  // Plaintext a leak would show: a marker repeated through every chunk.
  const marker = `plaintext-${randomBytes(6).toString("hex")}|`;
  const plain = (size: number): Uint8Array =>
    new TextEncoder().encode(marker.repeat(Math.ceil(size / marker.length)).slice(0, size));
  const contents = [plain(1000), plain(30_000), plain(50), plain(HTTP_BLOB_PART_BYTES + 12_345)];
  const sealed = contents.map((data) => {
    const id = chunkIdFromSha256(keys.chunkId, sha256(data));
    return { id, bytes: sealChunk(keys.chunk, { chunkId: id, folderId, epoch: 1 }, data) };
  });
  const [whole, batchA, batchB, large] = sealed as [
    (typeof sealed)[0],
    (typeof sealed)[0],
    (typeof sealed)[0],
    (typeof sealed)[0],
  ];

  const store = new HttpBlobStore({ baseUrl: relay.url, folderId, token: owner });
  await store.put(whole.id, whole.bytes);
  await store.putMany([batchA, batchB]);
  await store.put(large.id, large.bytes); // over one part: resumable parts, joined in S3
  expect(await store.has(sealed.map((c) => c.id))).toEqual([]);

  // Read back (one by one and in a batch) and opened: the same plaintext.
  const open = (id: ChunkId, bytes: Uint8Array | undefined): Uint8Array =>
    openChunk(keys.chunk, { chunkId: id, folderId, epoch: 1 }, bytes!);
  expect(Buffer.from(open(large.id, await store.get(large.id))).equals(contents[3]!)).toBe(true);
  const fetched = await store.getMany([whole.id, batchA.id, batchB.id]);
  expect(open(whole.id, fetched.get(whole.id))).toEqual(contents[0]);
  expect(open(batchA.id, fetched.get(batchA.id))).toEqual(contents[1]);
  expect(open(batchB.id, fetched.get(batchB.id))).toEqual(contents[2]);
  const size = await call(relay.url, "GET", `/v1/folders/${folderId}/blobs`, undefined, owner);
  expect(size.json).toMatchObject({
    count: 4,
    bytes: sealed.reduce((n, c) => n + c.bytes.length, 0),
  });
  // The metrics count over every folder in the bucket.
  const metrics = await (await fetch(`${relay.url}/metrics`)).text();
  expect(metrics).toMatch(/^weft_relay_stored_chunks 4$/m);

  // The bucket: the four chunks under the folder's prefix, no part left over, and no object
  // (nor key) holding the marker. Nothing went to the relay's data directory.
  const objects = await everyObject();
  expect(objects.map((o) => o.key).filter((k) => k.startsWith(`f/${folderId}/c/`))).toEqual(
    sealed.map((c) => `f/${folderId}/c/${c.id}`).sort(),
  );
  expect(objects.filter((o) => o.key.includes("/p/"))).toEqual([]);
  const needle = Buffer.from(marker);
  for (const o of objects) {
    expect(o.key).not.toContain(marker);
    expect(Buffer.from(o.bytes).includes(needle)).toBe(false);
  }
  expect(await readdir(join(relay.dir, "data", "chunks"))).toEqual([]);
});
