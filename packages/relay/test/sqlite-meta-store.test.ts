// SqliteMetaStore: the MetaStore conformance suite (helpers/meta-store-suite.ts) on a real file,
// plus what only a file has: reopening, permissions and schema versions.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { WeftError } from "@weft/core";
import type { WeftErrorCode } from "@weft/core";
import type { DeviceId, FolderId } from "@weft/crypto";
import type { SqliteMetaStore } from "../src/store/index.js";
import { SCHEMA_VERSION, openSqliteMetaStore } from "../src/store/index.js";
import { runMetaStoreTests } from "./helpers/meta-store-suite.js";

// Well-formed ids without a random source: the store checks their shape.
const folderA = "a".repeat(25) + "a";
const FA = folderA as FolderId;
const dev = (letter: string): DeviceId => ("ABCD-".repeat(7) + "EFG" + letter) as DeviceId;
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** Asserts that `fn` throws (or rejects with) a WeftError of `code`, and returns it. */
async function expectThrows(fn: () => unknown, code: WeftErrorCode): Promise<WeftError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a WeftError ${code}`).toBeInstanceOf(WeftError);
  expect((thrown as WeftError).code).toBe(code);
  return thrown as WeftError;
}

let dir: string;
let path: string;
let store: SqliteMetaStore;
let clock: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-meta-"));
  path = join(dir, "relay.db");
  clock = 1_000;
  store = openSqliteMetaStore(path, { now: () => clock });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** An account with one device per letter. */
async function accountWith(user: string, ...letters: string[]): Promise<string> {
  const account = await store.createAccount(user, `hash-of-${user}`);
  for (const l of letters) await store.addDevice(account.id, dev(l), key(l.charCodeAt(0)), key(1));
  return account.id;
}

runMetaStoreTests("SQLite", async (now) => {
  const where = await mkdtemp(join(tmpdir(), "weft-meta-"));
  const opened = openSqliteMetaStore(join(where, "relay.db"), { now });
  return {
    store: opened,
    close: async () => {
      await opened.close();
      await rm(where, { recursive: true, force: true });
    },
  };
});

describe("the file", () => {
  test("reopening keeps everything", async () => {
    const a = await accountWith("alice", "A");
    await store.createFolder(FA, a);
    await store.setEpoch(FA, 2);
    await store.putWrappedKey(FA, dev("A"), 2, bytes(2));
    await store.saveRefreshToken({ tokenHash: "t", family: "f", accountId: a, expires: 5 });
    await store.createInvite({
      id: "i",
      folderId: FA,
      role: "viewer",
      createdBy: a,
      expires: 5,
      wrappedKey: bytes(9),
      epoch: 2,
    });
    await store.append(FA, dev("A"), 1, bytes(1));
    await store.append(FA, dev("A"), 2, bytes(2));
    await store.putSnapshot(FA, 2, 1, bytes(7));
    await store.ack(FA, dev("A"), 2);
    expect(await store.pruneLog(FA)).toBe(1);
    const everything = async (): Promise<unknown[]> => [
      await store.accountByUser("alice"),
      await store.devicesOf(a),
      await store.folder(FA),
      await store.members(FA),
      await store.wrappedKeys(FA, dev("A")),
      await store.refreshToken("t"),
      await store.invite("i"),
      await store.readLog(FA, 0, 10, 1_000),
      await store.snapshot(FA),
      await store.acks(FA),
    ];
    const before = await everything();
    await store.close();
    await store.close();
    await expectThrows(() => store.headSeq(FA), "STORAGE");
    store = openSqliteMetaStore(path);
    expect(await everything()).toEqual(before);
    expect((await store.append(FA, dev("A"), 3, bytes(3))).seq).toBe(3);
    await expectThrows(() => store.append(FA, dev("A"), 1, bytes(1)), "ALREADY_EXISTS"); // pruned
  });

  test("the database and its WAL files are readable by their owner only", async () => {
    await store.createAccount("alice", "h");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}-wal`)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}-shm`)).mode & 0o777).toBe(0o600);
  });

  test("a new file is at the current schema version, in WAL mode", async () => {
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
    store = openSqliteMetaStore(path);
  });

  test("a file from a newer relay is refused with STORAGE naming the file", async () => {
    const newer = join(dir, "newer.db");
    const db = new Database(newer);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const error = await expectThrows(() => openSqliteMetaStore(newer), "STORAGE");
    expect(error.message).toContain(newer);
    expect(error.message).toMatch(/newer/);
  });

  test("a file that is not a database is refused with STORAGE, the SQLite error as cause", async () => {
    const junk = join(dir, "junk.db");
    await writeFile(junk, new Uint8Array(8192).fill(0x5a));
    const error = await expectThrows(() => openSqliteMetaStore(junk), "STORAGE");
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).not.toMatch(/SELECT|INSERT|PRAGMA/i);
  });
});
