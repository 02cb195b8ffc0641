// SqliteMetaStore: accounts, devices, tokens, folders, invites and the log on a real file, plus
// what only a file has: reopening, permissions and schema versions.
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

// Well-formed ids without a random source: the store checks their shape.
const folderA = "a".repeat(25) + "a";
const folderB = "b".repeat(25) + "a";
const FA = folderA as FolderId;
const FB = folderB as FolderId;
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

describe("accounts and devices", () => {
  test("an account is found by user and id; user names are unique case-sensitively", async () => {
    const alice = await store.createAccount("alice", "h1");
    expect(alice).toEqual({ id: alice.id, user: "alice", passwordHash: "h1", created: 1_000 });
    expect(await store.accountByUser("alice")).toEqual(alice);
    expect(await store.accountById(alice.id)).toEqual(alice);
    expect(await store.accountByUser("nobody")).toBeUndefined();
    await expectThrows(() => store.createAccount("alice", "h2"), "ALREADY_EXISTS");
    const upper = await store.createAccount("Alice", "h3");
    expect(upper.id).not.toBe(alice.id);
    await store.setPasswordHash(alice.id, "h4");
    expect((await store.accountById(alice.id))?.passwordHash).toBe("h4");
    await expectThrows(() => store.setPasswordHash("missing", "h"), "NOT_FOUND");
    await expectThrows(() => store.createAccount("", "h"), "INVALID_ARGUMENT");
  });

  test("a device is registered once; again with the same keys is fine, else ALREADY_EXISTS", async () => {
    const a = (await store.createAccount("alice", "h")).id;
    const b = (await store.createAccount("bob", "h")).id;
    const sign = key(7);
    const first = await store.addDevice(a, dev("A"), sign, key(8));
    sign.fill(0); // the record and the file keep their own copy
    expect(first).toEqual({
      deviceId: dev("A"),
      accountId: a,
      signPublicKey: key(7),
      boxPublicKey: key(8),
      created: 1_000,
    });
    clock = 2_000;
    expect(await store.addDevice(a, dev("A"), key(7), key(8))).toEqual(first);
    await expectThrows(() => store.addDevice(a, dev("A"), key(9), key(8)), "ALREADY_EXISTS");
    await expectThrows(() => store.addDevice(a, dev("A"), key(7), key(9)), "ALREADY_EXISTS");
    await expectThrows(() => store.addDevice(b, dev("A"), key(7), key(8)), "ALREADY_EXISTS");
    await expectThrows(() => store.addDevice("missing", dev("B"), key(1), key(1)), "NOT_FOUND");
    await expectThrows(
      () => store.addDevice(a, "not-an-id" as DeviceId, key(1), key(1)),
      "INVALID_ARGUMENT",
    );
    await store.addDevice(a, dev("C"), key(3), key(3));
    expect(await store.device(dev("A"))).toEqual(first);
    expect(await store.device(dev("B"))).toBeUndefined();
    expect((await store.devicesOf(a)).map((d) => d.deviceId)).toEqual([dev("A"), dev("C")]);
    expect(await store.devicesOf(b)).toEqual([]);
  });
});

describe("refresh tokens", () => {
  test("saved, used once (the first use is kept), revoked by family or by account", async () => {
    const a = await accountWith("alice", "A");
    const b = await accountWith("bob", "B");
    const save = async (
      tokenHash: string,
      family: string,
      accountId: string,
      deviceId?: DeviceId,
    ) => await store.saveRefreshToken({ tokenHash, family, accountId, expires: 9_000, deviceId });
    await save("t1", "f1", a);
    await save("t2", "f1", a);
    await save("t3", "f2", a);
    await save("t4", "f3", b, dev("B"));
    expect(await store.refreshToken("t1")).toEqual({
      tokenHash: "t1",
      family: "f1",
      accountId: a,
      deviceId: null,
      expires: 9_000,
      usedAt: null,
      revoked: false,
    });
    expect((await store.refreshToken("t4"))?.deviceId).toBe(dev("B"));
    expect(await store.refreshToken("nope")).toBeUndefined();
    await expectThrows(() => save("t1", "f", a), "ALREADY_EXISTS");
    await expectThrows(() => save("t5", "f", a, dev("B")), "NOT_FOUND"); // another account's device
    await expectThrows(() => save("t6", "f", "missing"), "NOT_FOUND");

    expect(await store.markRefreshTokenUsed("t1", 5_000)).toBe(true);
    expect(await store.markRefreshTokenUsed("t1", 6_000)).toBe(false);
    expect((await store.refreshToken("t1"))?.usedAt).toBe(5_000);
    await expectThrows(() => store.markRefreshTokenUsed("nope", 1), "NOT_FOUND");

    await store.revokeRefreshFamily("f1");
    const revoked = async (): Promise<string> =>
      (
        await Promise.all(
          ["t1", "t2", "t3", "t4"].map(async (t) =>
            (await store.refreshToken(t))?.revoked ? "R" : "-",
          ),
        )
      ).join("");
    expect(await revoked()).toBe("RR--");
    await store.revokeRefreshTokensOf(a);
    expect(await revoked()).toBe("RRR-");
  });
});

describe("folders, members and keys", () => {
  test("the creator owns a new folder; members get roles; foldersOf lists them", async () => {
    const a = await accountWith("alice", "A");
    const b = await accountWith("bob", "B");
    await store.createFolder(FA, a);
    expect(await store.folder(FA)).toEqual({ folderId: FA, epoch: 0, created: 1_000, headSeq: 0 });
    expect(await store.folder(FB)).toBeUndefined();
    await expectThrows(() => store.createFolder(FA, b), "ALREADY_EXISTS");
    await expectThrows(() => store.createFolder(FB, "missing"), "NOT_FOUND");
    await expectThrows(() => store.createFolder("Not-A-Folder" as FolderId, a), "INVALID_ARGUMENT");

    expect(await store.role(FA, a)).toBe("owner");
    expect(await store.role(FA, b)).toBeUndefined();
    await store.setMember(FA, b, "viewer");
    await store.setMember(FA, b, "editor");
    expect(await store.role(FA, b)).toBe("editor");
    expect(await store.members(FA)).toEqual([
      { accountId: a, user: "alice", role: "owner" },
      { accountId: b, user: "bob", role: "editor" },
    ]);
    await expectThrows(() => store.setMember(FB, b, "viewer"), "NOT_FOUND");
    await expectThrows(() => store.setMember(FA, "missing", "viewer"), "NOT_FOUND");
    await expectThrows(() => store.setMember(FA, b, "admin" as "viewer"), "INVALID_ARGUMENT");

    await store.createFolder(FB, b);
    expect(await store.foldersOf(b)).toEqual([
      { folderId: FA, role: "editor", epoch: 0, headSeq: 0 },
      { folderId: FB, role: "owner", epoch: 0, headSeq: 0 },
    ]);
    await store.removeMember(FA, b);
    await store.removeMember(FA, b);
    expect(await store.role(FA, b)).toBeUndefined();
    expect((await store.foldersOf(b)).map((f) => f.folderId)).toEqual([FB]);
  });

  test("memberDeviceKey gives a device's signing key only while its account is a member", async () => {
    const a = await accountWith("alice", "A");
    const b = await accountWith("bob", "B", "C");
    await store.createFolder(FA, a);
    expect(await store.memberDeviceKey(FA, dev("A"))).toEqual(key("A".charCodeAt(0)));
    expect(await store.memberDeviceKey(FA, dev("B"))).toBeUndefined();
    await store.setMember(FA, b, "viewer");
    expect(await store.memberDeviceKey(FA, dev("C"))).toEqual(key("C".charCodeAt(0)));
    await store.removeMember(FA, b);
    expect(await store.memberDeviceKey(FA, dev("C"))).toBeUndefined();
    expect(await store.memberDeviceKey(FA, dev("Z"))).toBeUndefined();
    expect(await store.memberDeviceKey(FB, dev("A"))).toBeUndefined();
  });

  test("the epoch only increases; wrapped keys are kept per device and epoch", async () => {
    const a = await accountWith("alice", "A", "B");
    await store.createFolder(FA, a);
    await store.setEpoch(FA, 1);
    await store.setEpoch(FA, 5);
    expect((await store.folder(FA))?.epoch).toBe(5);
    await expectThrows(() => store.setEpoch(FA, 5), "INVALID_ARGUMENT");
    await expectThrows(() => store.setEpoch(FA, 4), "INVALID_ARGUMENT");
    await expectThrows(() => store.setEpoch(FA, 2 ** 32), "INVALID_ARGUMENT");
    await expectThrows(() => store.setEpoch(FB, 9), "NOT_FOUND");

    await store.putWrappedKey(FA, dev("A"), 5, bytes(5, 5));
    await store.putWrappedKey(FA, dev("A"), 1, bytes(1));
    await store.putWrappedKey(FA, dev("B"), 5, bytes(6));
    // Never replaced: an overwrite is how a planted key would take the real one's place.
    await expectThrows(
      () => store.putWrappedKey(FA, dev("A"), 5, bytes(5, 5, 5)),
      "ALREADY_EXISTS",
    );
    expect(await store.wrappedKeys(FA, dev("A"))).toEqual([
      { epoch: 1, blob: bytes(1) },
      { epoch: 5, blob: bytes(5, 5) },
    ]);
    expect(await store.wrappedKeys(FA, dev("B"))).toEqual([{ epoch: 5, blob: bytes(6) }]);
    expect(await store.wrappedKeys(FA, dev("C"))).toEqual([]);
    await expectThrows(() => store.putWrappedKey(FA, dev("C"), 1, bytes(1)), "NOT_FOUND");
    await expectThrows(() => store.putWrappedKey(FB, dev("A"), 1, bytes(1)), "NOT_FOUND");
  });
});

describe("invites", () => {
  test("an invite is used once, and a revoked one not at all", async () => {
    const a = await accountWith("alice");
    const b = await accountWith("bob");
    const c = await accountWith("carol");
    await store.createFolder(FA, a);
    const invite = {
      id: "inv1",
      folderId: FA,
      role: "editor" as const,
      createdBy: a,
      expires: 9_000,
      wrappedKey: bytes(1, 2, 3),
      epoch: 0,
    };
    await store.createInvite(invite);
    expect(await store.invite("inv1")).toEqual({ ...invite, usedBy: null, revoked: false });
    await expectThrows(() => store.createInvite(invite), "ALREADY_EXISTS");
    await expectThrows(() => store.createInvite({ ...invite, id: "x", folderId: FB }), "NOT_FOUND");
    await expectThrows(
      () => store.createInvite({ ...invite, id: "y", role: "owner" as "editor" }),
      "INVALID_ARGUMENT",
    );

    await store.useInvite("inv1", b);
    expect((await store.invite("inv1"))?.usedBy).toBe(b);
    await expectThrows(() => store.useInvite("inv1", c), "ALREADY_EXISTS");
    await expectThrows(() => store.useInvite("inv1", b), "ALREADY_EXISTS");
    expect((await store.invite("inv1"))?.usedBy).toBe(b);
    await expectThrows(() => store.useInvite("nope", c), "NOT_FOUND");

    await store.createInvite({ ...invite, id: "inv2", role: "viewer" });
    await store.revokeInvite("inv2");
    await store.revokeInvite("inv2");
    expect((await store.invite("inv2"))?.revoked).toBe(true);
    await expectThrows(() => store.useInvite("inv2", c), "INVALID_ARGUMENT");
    expect((await store.invite("inv2"))?.usedBy).toBeNull();
    await expectThrows(() => store.revokeInvite("nope"), "NOT_FOUND");
  });
});

describe("the log", () => {
  let a: string;
  beforeEach(async () => {
    a = await accountWith("alice", "A", "B");
    await store.createFolder(FA, a);
    await store.createFolder(FB, a);
  });

  test("append numbers each folder 1, 2, 3 on its own", async () => {
    expect(await store.append(FA, dev("A"), 1, bytes(1))).toEqual({ seq: 1, duplicate: false });
    expect(await store.append(FA, dev("B"), 1, bytes(2))).toEqual({ seq: 2, duplicate: false });
    expect(await store.append(FB, dev("A"), 1, bytes(3))).toEqual({ seq: 1, duplicate: false });
    expect(await store.append(FA, dev("A"), 2, bytes(4))).toEqual({ seq: 3, duplicate: false });
    expect(await store.headSeq(FA)).toBe(3);
    expect(await store.headSeq(FB)).toBe(1);
    expect((await store.folder(FA))?.headSeq).toBe(3);
    expect((await store.foldersOf(a)).map((f) => f.headSeq)).toEqual([3, 1]);
    await expectThrows(() => store.headSeq(("c".repeat(25) + "a") as FolderId), "NOT_FOUND");
    await expectThrows(
      () => store.append(("c".repeat(25) + "a") as FolderId, dev("A"), 1, bytes(1)),
      "NOT_FOUND",
    );
    await expectThrows(() => store.append(FA, dev("Z"), 1, bytes(1)), "NOT_FOUND");
    await expectThrows(() => store.append(FA, dev("A"), -1, bytes(1)), "INVALID_ARGUMENT");
    await expectThrows(() => store.append(FA, dev("A"), 9, new Uint8Array(0)), "INVALID_ARGUMENT");
  });

  test("the same envelope again is a duplicate; other bytes under a used deviceSeq are refused", async () => {
    await store.append(FA, dev("A"), 1, bytes(1, 1));
    await store.append(FA, dev("A"), 2, bytes(2, 2));
    expect(await store.append(FA, dev("A"), 1, bytes(1, 1))).toEqual({ seq: 1, duplicate: true });
    await expectThrows(() => store.append(FA, dev("A"), 1, bytes(1, 2)), "ALREADY_EXISTS");
    await expectThrows(() => store.append(FA, dev("A"), 2, bytes(2)), "ALREADY_EXISTS");
    expect(await store.headSeq(FA)).toBe(2);
    // The same deviceSeq from another device, or in another folder, is another entry.
    expect((await store.append(FA, dev("B"), 1, bytes(1, 1))).seq).toBe(3);
    expect((await store.append(FB, dev("A"), 1, bytes(1, 1))).seq).toBe(1);
  });

  test("readLog pages by count and bytes, always returning one entry if there is any", async () => {
    for (let i = 1; i <= 5; i++)
      await store.append(FA, dev("A"), i, new Uint8Array(i * 10).fill(i));
    const seqs = (items: { seq: number }[]): number[] => items.map((x) => x.seq);
    expect(seqs(await store.readLog(FA, 0, 100, 1_000_000))).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(await store.readLog(FA, 0, 2, 1_000_000))).toEqual([1, 2]);
    expect(seqs(await store.readLog(FA, 2, 2, 1_000_000))).toEqual([3, 4]);
    expect(seqs(await store.readLog(FA, 0, 100, 60))).toEqual([1, 2, 3]); // 10 + 20 + 30
    expect(seqs(await store.readLog(FA, 0, 100, 59))).toEqual([1, 2]);
    expect(seqs(await store.readLog(FA, 3, 100, 1))).toEqual([4]); // larger than maxBytes, still one
    expect(await store.readLog(FA, 5, 100, 1_000)).toEqual([]);
    expect(await store.readLog(FB, 0, 100, 1_000)).toEqual([]);
    const [first] = await store.readLog(FA, 1, 1, 1_000);
    expect(first).toEqual({ seq: 2, envelope: new Uint8Array(20).fill(2) });
    await expectThrows(() => store.readLog(FA, 0, 0, 1_000), "INVALID_ARGUMENT");
    await expectThrows(
      () => store.readLog(("c".repeat(25) + "a") as FolderId, 0, 1, 1),
      "NOT_FOUND",
    );
  });

  test("the newest snapshot by coversSeq wins; one beyond the head is refused", async () => {
    for (let i = 1; i <= 6; i++) await store.append(FA, dev("A"), i, bytes(i));
    expect(await store.snapshot(FA)).toBeUndefined();
    await store.putSnapshot(FA, 0, 4, bytes(4));
    await store.putSnapshot(FA, 0, 3, bytes(3)); // older: ignored
    expect(await store.snapshot(FA)).toEqual({ epoch: 0, coversSeq: 4, ciphertext: bytes(4) });
    await store.putSnapshot(FA, 1, 4, bytes(4, 1)); // same coverage, written later: replaces
    expect(await store.snapshot(FA)).toEqual({ epoch: 1, coversSeq: 4, ciphertext: bytes(4, 1) });
    await store.putSnapshot(FA, 1, 6, bytes(6));
    expect((await store.snapshot(FA))?.coversSeq).toBe(6);
    await expectThrows(() => store.putSnapshot(FA, 1, 7, bytes(7)), "INVALID_ARGUMENT");
    expect(await store.snapshot(FB)).toBeUndefined();
  });

  test("acks keep the highest seq per device", async () => {
    for (let i = 1; i <= 5; i++) await store.append(FA, dev("A"), i, bytes(i));
    await store.ack(FA, dev("A"), 3);
    await store.ack(FA, dev("A"), 2);
    await store.ack(FA, dev("B"), 5);
    expect(await store.acks(FA)).toEqual(
      new Map([
        [dev("A"), 3],
        [dev("B"), 5],
      ]),
    );
    expect(await store.acks(FB)).toEqual(new Map());
    await expectThrows(() => store.ack(FA, dev("A"), 6), "INVALID_ARGUMENT");
    await expectThrows(() => store.ack(FA, dev("Z"), 1), "NOT_FOUND");
  });

  test("pruneLog skips devices silent since before silentBefore (last ack, else registration)", async () => {
    const b = await accountWith("bob", "C"); // registered at 1,000
    await store.setMember(FA, b, "viewer");
    for (let i = 1; i <= 10; i++) await store.append(FA, dev("A"), i, bytes(i));
    clock = 5_000;
    await store.ack(FA, dev("A"), 9);
    await store.ack(FA, dev("B"), 8);
    await store.putSnapshot(FA, 0, 10, bytes(0));
    // C never acked: it holds everything, unless registered before silentBefore.
    expect(await store.pruneLog(FA)).toBe(0);
    expect(await store.pruneLog(FA, 1_000)).toBe(0);
    expect(await store.pruneLog(FA, 1_001)).toBe(8); // min(A 9, B 8)
    clock = 6_000;
    await store.ack(FA, dev("C"), 9); // C is back: heard at 6,000, and holds from 9 on
    clock = 9_000;
    await store.ack(FA, dev("A"), 10);
    await store.ack(FA, dev("B"), 10);
    expect(await store.pruneLog(FA, 6_000)).toBe(1); // C heard at 6,000 counts: min(10, 10, 9)
    expect(await store.pruneLog(FA, 6_001)).toBe(1); // C silent since: min(10, 10)
    // An older ack does not lower the seq, and its time only moves forward.
    clock = 7_000;
    await store.ack(FA, dev("C"), 3);
    expect((await store.acks(FA)).get(dev("C"))).toBe(9);
  });

  test("pruneLog drops only what every member device acked and the snapshot covers", async () => {
    const b = await accountWith("bob", "C");
    const outsider = await accountWith("eve", "E");
    await store.setMember(FA, b, "viewer");
    for (let i = 1; i <= 10; i++) await store.append(FA, dev(i % 2 ? "A" : "B"), i, bytes(i));

    await store.ack(FA, dev("A"), 8);
    await store.ack(FA, dev("B"), 7);
    expect(await store.pruneLog(FA)).toBe(0); // no snapshot yet
    await store.putSnapshot(FA, 0, 6, bytes(0));
    expect(await store.pruneLog(FA)).toBe(0); // dev C (bob) never acked
    await store.ack(FA, dev("C"), 4);
    await store.ack(FA, dev("E"), 0); // not a member: ignored (eve's account has no role)
    expect(outsider).toBeTruthy();
    expect(await store.pruneLog(FA)).toBe(4); // min(8, 7, 4, snapshot 6)
    expect((await store.readLog(FA, 0, 100, 1_000)).map((x) => x.seq)).toEqual([5, 6, 7, 8, 9, 10]);

    await store.ack(FA, dev("C"), 10);
    expect(await store.pruneLog(FA)).toBe(2); // now the snapshot (6) bounds it
    expect(await store.pruneLog(FA)).toBe(0);
    await store.removeMember(FA, b); // a removed member no longer holds the log back
    await store.putSnapshot(FA, 0, 10, bytes(0));
    expect(await store.pruneLog(FA)).toBe(1); // min(A 8, B 7) = 7
    expect((await store.readLog(FA, 0, 100, 1_000)).map((x) => x.seq)).toEqual([8, 9, 10]);
    expect(await store.headSeq(FA)).toBe(10);
    expect(await store.pruneLog(FB)).toBe(0);

    // A pruned deviceSeq cannot be appended again, even with the same bytes: its entry is gone.
    await expectThrows(() => store.append(FA, dev("A"), 5, bytes(5)), "ALREADY_EXISTS");
    await expectThrows(() => store.append(FA, dev("B"), 2, bytes(9)), "ALREADY_EXISTS");
    expect(await store.append(FA, dev("A"), 9, bytes(9))).toEqual({ seq: 9, duplicate: true });
    expect((await store.append(FA, dev("A"), 11, bytes(11))).seq).toBe(11);
  });
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
