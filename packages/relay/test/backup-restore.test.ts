// Backup and restore of a relay's data directory, in process: what comes back is what went in,
// and every wrong input (no relay, an existing target, not a backup, a newer schema, a non-empty
// directory) is refused with its reason and leaves nothing behind. relay-backup.test.ts (in
// node-agent) does it end to end, during writes. Also the metrics token's configuration.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChunkId } from "@weft/crypto";
import { newFolderId, ready } from "@weft/crypto";
import { WeftError } from "@weft/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { parseConfig } from "../src/config.js";
import { backupRelay, restoreRelay } from "../src/store/backup.js";
import { DiskBlobStore, SCHEMA_VERSION, openSqliteMetaStore } from "../src/store/index.js";

let dir: string;
beforeEach(async () => {
  await ready();
  dir = await mkdtemp(join(tmpdir(), "weft-backup-unit-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WeftError);
  expect((error as WeftError).code).toBe("INVALID_OPTIONS");
  expect((error as Error).message).toMatch(pattern);
}

/** A relay data directory with an account, a folder and two chunks in it. */
async function makeRelayData(data: string) {
  const folderId = newFolderId();
  const meta = openSqliteMetaStore(join(data, "relay.db"));
  const account = await meta.createAccount("ana", "hash");
  await meta.createFolder(folderId, account.id);
  await meta.close();
  await writeFile(join(data, "jwt-secret"), "s".repeat(43), { mode: 0o600 });
  const store = await DiskBlobStore.open(join(data, "chunks", folderId));
  const chunks = new Map<ChunkId, Buffer>();
  for (let i = 0; i < 2; i++) {
    const id = randomBytes(32).toString("hex") as ChunkId;
    chunks.set(id, randomBytes(1000 + i));
    await store.put(id, chunks.get(id)!);
  }
  await store.close();
  return { folderId, chunks };
}

describe("weft relay backup and restore", () => {
  test("a restored directory holds the accounts, folders, chunks and secret backed up", async () => {
    const data = join(dir, "data");
    const { folderId, chunks } = await makeRelayData(data);
    const summary = await backupRelay(data, join(dir, "backup"));
    expect(summary).toMatchObject({ schemaVersion: SCHEMA_VERSION, folders: 1, chunks: 2 });
    expect(summary.bytes).toBe(2001);
    expect((await readdir(join(dir, "backup"))).sort()).toEqual(
      ["BACKUP.json", "chunks", "jwt-secret", "relay.db"].sort(),
    );

    await restoreRelay(join(dir, "backup"), join(dir, "restored"));
    const meta = openSqliteMetaStore(join(dir, "restored", "relay.db"));
    try {
      const account = await meta.accountByUser("ana");
      expect(account).toBeDefined();
      expect((await meta.foldersOf(account!.id)).map((f) => f.folderId)).toEqual([folderId]);
    } finally {
      await meta.close();
    }
    const store = await DiskBlobStore.open(join(dir, "restored", "chunks", folderId));
    try {
      for (const [id, bytes] of chunks) expect(Buffer.from((await store.get(id))!)).toEqual(bytes);
    } finally {
      await store.close();
    }
    expect(await readFile(join(dir, "restored", "jwt-secret"), "utf8")).toBe("s".repeat(43));
  });

  test("wrong inputs are refused with the reason, and leave nothing behind", async () => {
    const data = join(dir, "data");
    await makeRelayData(data);
    await refused(backupRelay(join(dir, "nothing"), join(dir, "b1")), /holds no relay database/);
    await mkdir(join(dir, "taken"));
    await refused(backupRelay(data, join(dir, "taken")), /exists; a backup goes to a new path/);
    expect((await readdir(dir)).sort()).toEqual(["data", "taken"]);

    await refused(restoreRelay(data, join(dir, "r1")), /is not a relay backup/);
    await backupRelay(data, join(dir, "backup"));
    await refused(restoreRelay(join(dir, "backup"), data), /is not empty/);
    const manifest = join(dir, "backup", "BACKUP.json");
    const summary = JSON.parse(await readFile(manifest, "utf8")) as Record<string, unknown>;
    await writeFile(manifest, JSON.stringify({ ...summary, schemaVersion: SCHEMA_VERSION + 1 }));
    await refused(restoreRelay(join(dir, "backup"), join(dir, "r2")), /newer than this relay/);
    await writeFile(manifest, JSON.stringify(summary));
    await writeFile(join(dir, "backup", "relay.db"), "not a database");
    await refused(restoreRelay(join(dir, "backup"), join(dir, "r3")), /not a sound relay database/);
    expect((await readdir(dir)).sort()).toEqual(["backup", "data", "taken"]);
  });
});

describe("the metrics token", () => {
  test("comes from the environment or a file, and a bad one is refused without echoing it", async () => {
    const token = "a-metrics-token-long-enough";
    expect(parseConfig([], { WEFT_RELAY_METRICS_TOKEN: token })).toMatchObject({
      metricsToken: token,
    });
    await writeFile(join(dir, "token"), `${token}\n`, { mode: 0o600 });
    expect(
      parseConfig(["--metrics-port", "0"], { WEFT_RELAY_METRICS_TOKEN_FILE: join(dir, "token") }),
    ).toMatchObject({ metricsToken: token, metricsPort: 0 });
    expect(() => parseConfig([], { WEFT_RELAY_METRICS_TOKEN: "short-secret" })).toThrow(
      /at least 16 characters/,
    );
    expect(() => parseConfig([], { WEFT_RELAY_METRICS_TOKEN: "short-secret" })).not.toThrow(
      /short-secret/,
    );
    expect(() => parseConfig([], { WEFT_RELAY_METRICS_TOKEN_FILE: join(dir, "missing") })).toThrow(
      /cannot read .*missing \(ENOENT\)/,
    );
    expect(() => parseConfig(["--metrics-port", "http"], {})).toThrow(/--metrics-port/);
  });
});
