// The MetaStore conformance suite: what every relay metadata store must do, run on SQLite
// (sqlite-meta-store.test.ts) and PostgreSQL (pg-meta-store.test.ts) alike. Every call is
// awaited, so it runs unchanged on a store whose methods return promises.
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { WeftError } from "@weft/core";
import type { WeftErrorCode } from "@weft/core";
import type { DeviceId, FolderId } from "@weft/crypto";
import type { MetaStore } from "../../src/store/index.js";

/** A store under test. */
export type StoreUnderTest = MetaStore;

/** What `open` gives the suite: a fresh, empty store, and how to dispose of it. */
export interface OpenedStore {
  store: StoreUnderTest;
  /** Closes the store and removes what it stored. */
  close(): Promise<void>;
}

// Well-formed ids without a random source: the store checks their shape.
const folderA = "a".repeat(25) + "a";
const folderB = "b".repeat(25) + "a";
const FA = folderA as FolderId;
const FB = folderB as FolderId;
const dev = (letter: string): DeviceId => ("ABCD-".repeat(7) + "EFG" + letter) as DeviceId;
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** Asserts that `promise` rejects with a WeftError of `code`, and returns it. */
export async function expectRejects(
  promise: Promise<unknown>,
  code: WeftErrorCode,
): Promise<WeftError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a WeftError ${code}`).toBeInstanceOf(WeftError);
  expect((thrown as WeftError).code).toBe(code);
  return thrown as WeftError;
}

/**
 * Registers the suite under `name`. `open(now)` gives a fresh, empty store whose clock is `now`
 * (the suite moves it); it runs before each test, and `close` after.
 */
export function runMetaStoreTests(
  name: string,
  open: (now: () => number) => Promise<OpenedStore>,
): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let store: StoreUnderTest;
    let opened: OpenedStore;
    let clock: number;

    beforeEach(async () => {
      clock = 1_000;
      opened = await open(() => clock);
      store = opened.store;
    });
    afterEach(async () => {
      await opened.close();
    });

    /** An account with one device per letter. */
    async function accountWith(user: string, ...letters: string[]): Promise<string> {
      const account = await store.createAccount(user, `hash-of-${user}`);
      for (const l of letters)
        await store.addDevice(account.id, dev(l), key(l.charCodeAt(0)), key(1));
      return account.id;
    }

    describe("accounts and devices", () => {
      test("an account is found by user and id; user names are unique case-sensitively", async () => {
        const alice = await store.createAccount("alice", "h1");
        expect(alice).toEqual({ id: alice.id, user: "alice", passwordHash: "h1", created: 1_000 });
        expect(await store.accountByUser("alice")).toEqual(alice);
        expect(await store.accountById(alice.id)).toEqual(alice);
        expect(await store.accountByUser("nobody")).toBeUndefined();
        await expectRejects(store.createAccount("alice", "h2"), "ALREADY_EXISTS");
        const upper = await store.createAccount("Alice", "h3");
        expect(upper.id).not.toBe(alice.id);
        await store.setPasswordHash(alice.id, "h4");
        expect((await store.accountById(alice.id))?.passwordHash).toBe("h4");
        await expectRejects(store.setPasswordHash("missing", "h"), "NOT_FOUND");
        await expectRejects(store.createAccount("", "h"), "INVALID_ARGUMENT");
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
        await expectRejects(store.addDevice(a, dev("A"), key(9), key(8)), "ALREADY_EXISTS");
        await expectRejects(store.addDevice(a, dev("A"), key(7), key(9)), "ALREADY_EXISTS");
        await expectRejects(store.addDevice(b, dev("A"), key(7), key(8)), "ALREADY_EXISTS");
        await expectRejects(store.addDevice("missing", dev("B"), key(1), key(1)), "NOT_FOUND");
        await expectRejects(
          store.addDevice(a, "not-an-id" as DeviceId, key(1), key(1)),
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
        const save = (tokenHash: string, family: string, accountId: string, deviceId?: DeviceId) =>
          store.saveRefreshToken({ tokenHash, family, accountId, expires: 9_000, deviceId });
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
        await expectRejects(save("t1", "f", a), "ALREADY_EXISTS");
        await expectRejects(save("t5", "f", a, dev("B")), "NOT_FOUND"); // another account's device
        await expectRejects(save("t6", "f", "missing"), "NOT_FOUND");

        await store.markRefreshTokenUsed("t1", 5_000);
        await store.markRefreshTokenUsed("t1", 6_000);
        expect((await store.refreshToken("t1"))?.usedAt).toBe(5_000);
        await expectRejects(store.markRefreshTokenUsed("nope", 1), "NOT_FOUND");

        await store.revokeRefreshFamily("f1");
        const revoked = async (): Promise<string> =>
          (await Promise.all(["t1", "t2", "t3", "t4"].map((t) => store.refreshToken(t))))
            .map((t) => (t?.revoked ? "R" : "-"))
            .join("");
        expect(await revoked()).toBe("RR--");
        await store.revokeRefreshTokensOf(a);
        expect(await revoked()).toBe("RRR-");
      });

      test("revokedFamiliesSince lists the families revoked from a time on, at their first revocation", async () => {
        const a = await accountWith("alice", "A");
        const b = await accountWith("bob", "B", "C");
        const save = (tokenHash: string, family: string, accountId: string, deviceId?: DeviceId) =>
          store.saveRefreshToken({ tokenHash, family, accountId, expires: 99_000, deviceId });
        await save("t1", "f1", a);
        await save("t2", "f1", a);
        await save("t3", "f2", a);
        await save("t4", "f3", b, dev("B"));
        await save("t5", "f4", b, dev("C"));
        expect(await store.revokedFamiliesSince(0)).toEqual([]);
        clock = 2_000;
        await store.revokeRefreshFamily("f1");
        clock = 3_000;
        await store.revokeRefreshFamily("f1"); // a second logout keeps the first time
        await store.revokeRefreshTokensOf(a); // f1 stays at 2_000; f2 revoked now
        clock = 4_000;
        await store.removeDevice(dev("B"), 4_500); // f3, at the removal's time
        const since = async (t: number) =>
          (await store.revokedFamiliesSince(t)).sort((x, y) => x.family.localeCompare(y.family));
        expect(await since(0)).toEqual([
          { family: "f1", revokedAt: 2_000 },
          { family: "f2", revokedAt: 3_000 },
          { family: "f3", revokedAt: 4_500 },
        ]);
        expect(await since(3_000)).toEqual([
          { family: "f2", revokedAt: 3_000 },
          { family: "f3", revokedAt: 4_500 },
        ]);
        expect(await since(5_000)).toEqual([]);
        await expectRejects(store.revokedFamiliesSince(1.5), "INVALID_ARGUMENT");
      });
    });

    describe("folders, members and keys", () => {
      test("the creator owns a new folder; members get roles; foldersOf lists them", async () => {
        const a = await accountWith("alice", "A");
        const b = await accountWith("bob", "B");
        await store.createFolder(FA, a);
        expect(await store.folder(FA)).toEqual({
          folderId: FA,
          epoch: 0,
          created: 1_000,
          headSeq: 0,
        });
        expect(await store.folder(FB)).toBeUndefined();
        await expectRejects(store.createFolder(FA, b), "ALREADY_EXISTS");
        await expectRejects(store.createFolder(FB, "missing"), "NOT_FOUND");
        await expectRejects(store.createFolder("Not-A-Folder" as FolderId, a), "INVALID_ARGUMENT");

        expect(await store.role(FA, a)).toBe("owner");
        expect(await store.role(FA, b)).toBeUndefined();
        await store.setMember(FA, b, "viewer");
        await store.setMember(FA, b, "editor");
        expect(await store.role(FA, b)).toBe("editor");
        expect(await store.members(FA)).toEqual([
          { accountId: a, user: "alice", role: "owner" },
          { accountId: b, user: "bob", role: "editor" },
        ]);
        await expectRejects(store.setMember(FB, b, "viewer"), "NOT_FOUND");
        await expectRejects(store.setMember(FA, "missing", "viewer"), "NOT_FOUND");
        await expectRejects(store.setMember(FA, b, "admin" as "viewer"), "INVALID_ARGUMENT");

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

      test("a folder's signed metadata is kept with it as sent, and only at creation", async () => {
        const a = await accountWith("alice", "A");
        await store.createFolder(FA, a, "c2lnbmVkLW1ldGFkYXRh");
        await store.createFolder(FB, a);
        expect(await store.folder(FA)).toMatchObject({
          folderId: FA,
          meta: "c2lnbmVkLW1ldGFkYXRh",
        });
        // A folder made without one (as before records existed) has none, and a second create
        // of the id cannot add or replace one.
        expect(await store.folder(FB)).not.toHaveProperty("meta");
        await expectRejects(store.createFolder(FB, a, "b3RoZXI"), "ALREADY_EXISTS");
        await expectRejects(store.createFolder(FA, a, "b3RoZXI"), "ALREADY_EXISTS");
        expect((await store.folder(FA))?.meta).toBe("c2lnbmVkLW1ldGFkYXRh");
        expect(await store.folder(FB)).not.toHaveProperty("meta");
        await expectRejects(
          store.createFolder("c".repeat(26) as FolderId, a, ""),
          "INVALID_ARGUMENT",
        );
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
        await expectRejects(store.setEpoch(FA, 5), "INVALID_ARGUMENT");
        await expectRejects(store.setEpoch(FA, 4), "INVALID_ARGUMENT");
        await expectRejects(store.setEpoch(FA, 2 ** 32), "INVALID_ARGUMENT");
        await expectRejects(store.setEpoch(FB, 9), "NOT_FOUND");

        await store.putWrappedKey(FA, dev("A"), 5, bytes(5, 5));
        await store.putWrappedKey(FA, dev("A"), 1, bytes(1));
        await store.putWrappedKey(FA, dev("B"), 5, bytes(6));
        // Never replaced: an overwrite is how a planted key would take the real one's place.
        await expectRejects(store.putWrappedKey(FA, dev("A"), 5, bytes(5, 5, 5)), "ALREADY_EXISTS");
        expect(await store.wrappedKeys(FA, dev("A"))).toEqual([
          { epoch: 1, blob: bytes(1) },
          { epoch: 5, blob: bytes(5, 5) },
        ]);
        expect(await store.wrappedKeys(FA, dev("B"))).toEqual([{ epoch: 5, blob: bytes(6) }]);
        expect(await store.wrappedKeys(FA, dev("C"))).toEqual([]);
        await expectRejects(store.putWrappedKey(FA, dev("C"), 1, bytes(1)), "NOT_FOUND");
        await expectRejects(store.putWrappedKey(FB, dev("A"), 1, bytes(1)), "NOT_FOUND");
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
        await expectRejects(store.createInvite(invite), "ALREADY_EXISTS");
        await expectRejects(store.createInvite({ ...invite, id: "x", folderId: FB }), "NOT_FOUND");
        await expectRejects(
          store.createInvite({ ...invite, id: "y", role: "owner" as "editor" }),
          "INVALID_ARGUMENT",
        );

        await store.useInvite("inv1", b);
        expect((await store.invite("inv1"))?.usedBy).toBe(b);
        await expectRejects(store.useInvite("inv1", c), "ALREADY_EXISTS");
        await expectRejects(store.useInvite("inv1", b), "ALREADY_EXISTS");
        expect((await store.invite("inv1"))?.usedBy).toBe(b);
        await expectRejects(store.useInvite("nope", c), "NOT_FOUND");

        await store.createInvite({ ...invite, id: "inv2", role: "viewer" });
        await store.revokeInvite("inv2");
        await store.revokeInvite("inv2");
        expect((await store.invite("inv2"))?.revoked).toBe(true);
        await expectRejects(store.useInvite("inv2", c), "INVALID_ARGUMENT");
        expect((await store.invite("inv2"))?.usedBy).toBeNull();
        await expectRejects(store.revokeInvite("nope"), "NOT_FOUND");
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
        const unknown = ("c".repeat(25) + "a") as FolderId;
        expect(await store.headSeqs([FA, unknown, FB])).toEqual(
          new Map([
            [FA, 3],
            [FB, 1],
          ]),
        );
        expect(await store.headSeqs([])).toEqual(new Map());
        expect((await store.folder(FA))?.headSeq).toBe(3);
        expect((await store.foldersOf(a)).map((f) => f.headSeq)).toEqual([3, 1]);
        await expectRejects(store.headSeq(("c".repeat(25) + "a") as FolderId), "NOT_FOUND");
        await expectRejects(
          store.append(("c".repeat(25) + "a") as FolderId, dev("A"), 1, bytes(1)),
          "NOT_FOUND",
        );
        await expectRejects(store.append(FA, dev("Z"), 1, bytes(1)), "NOT_FOUND");
        await expectRejects(store.append(FA, dev("A"), -1, bytes(1)), "INVALID_ARGUMENT");
        await expectRejects(store.append(FA, dev("A"), 9, new Uint8Array(0)), "INVALID_ARGUMENT");
      });

      test("appendIf stores only while every claimed head is the claim's base, and moves the heads in the same step", async () => {
        const h = (n: number): Uint8Array => key(n);
        const none = new Uint8Array(0);
        // A new file: no head yet, so an empty base is the head.
        expect(
          await store.appendIf(FA, dev("A"), 1, bytes(1), [
            { handle: h(1), base: none, next: h(11) },
          ]),
        ).toEqual({ seq: 1, duplicate: false });
        // B saw the same (no head): refused, nothing stored, the stale handle named.
        expect(
          await store.appendIf(FA, dev("B"), 1, bytes(2), [
            { handle: h(1), base: none, next: h(12) },
            { handle: h(2), base: none, next: h(21) },
          ]),
        ).toEqual({ stale: [h(1)] });
        expect(await store.headSeq(FA)).toBe(1);
        // The other handle of that refused append was not moved: B can claim it alone.
        expect(
          await store.appendIf(FA, dev("B"), 2, bytes(3), [
            { handle: h(2), base: none, next: h(21) },
          ]),
        ).toEqual({ seq: 2, duplicate: false });
        // B again, now on top of A's write.
        expect(
          await store.appendIf(FA, dev("B"), 3, bytes(4), [
            { handle: h(1), base: h(11), next: h(12) },
          ]),
        ).toEqual({ seq: 3, duplicate: false });
        // A retry of A's first append (its answer lost) is a duplicate, though the head moved.
        expect(
          await store.appendIf(FA, dev("A"), 1, bytes(1), [
            { handle: h(1), base: none, next: h(11) },
          ]),
        ).toEqual({ seq: 1, duplicate: true });
        // A write on a head that moved on is stale; the same handle in another folder is its own.
        expect(
          await store.appendIf(FA, dev("A"), 2, bytes(5), [
            { handle: h(1), base: h(11), next: h(13) },
          ]),
        ).toEqual({ stale: [h(1)] });
        expect(
          await store.appendIf(FB, dev("A"), 1, bytes(6), [
            { handle: h(1), base: none, next: h(13) },
          ]),
        ).toEqual({ seq: 1, duplicate: false });
        // Plain appends neither check nor move heads.
        expect((await store.append(FA, dev("A"), 3, bytes(7))).seq).toBe(4);
        expect(
          await store.appendIf(FA, dev("A"), 4, bytes(8), [
            { handle: h(1), base: h(12), next: h(14) },
          ]),
        ).toEqual({ seq: 5, duplicate: false });
        await expectRejects(
          store.appendIf(FA, dev("A"), 4, bytes(9), [{ handle: h(1), base: h(14), next: h(15) }]),
          "ALREADY_EXISTS",
        );
        // An empty next leaves the handle with no head: a new file may claim it again.
        expect(
          await store.appendIf(FA, dev("A"), 5, bytes(10), [
            { handle: h(1), base: h(14), next: none },
          ]),
        ).toEqual({ seq: 6, duplicate: false });
        expect(
          await store.appendIf(FA, dev("B"), 4, bytes(11), [
            { handle: h(1), base: none, next: h(16) },
          ]),
        ).toEqual({ seq: 7, duplicate: false });
      });

      test("the same envelope again is a duplicate; other bytes under a used deviceSeq are refused", async () => {
        await store.append(FA, dev("A"), 1, bytes(1, 1));
        await store.append(FA, dev("A"), 2, bytes(2, 2));
        expect(await store.append(FA, dev("A"), 1, bytes(1, 1))).toEqual({
          seq: 1,
          duplicate: true,
        });
        await expectRejects(store.append(FA, dev("A"), 1, bytes(1, 2)), "ALREADY_EXISTS");
        await expectRejects(store.append(FA, dev("A"), 2, bytes(2)), "ALREADY_EXISTS");
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
        await expectRejects(store.readLog(FA, 0, 0, 1_000), "INVALID_ARGUMENT");
        await expectRejects(
          store.readLog(("c".repeat(25) + "a") as FolderId, 0, 1, 1),
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
        expect(await store.snapshot(FA)).toEqual({
          epoch: 1,
          coversSeq: 4,
          ciphertext: bytes(4, 1),
        });
        await store.putSnapshot(FA, 1, 6, bytes(6));
        expect((await store.snapshot(FA))?.coversSeq).toBe(6);
        await expectRejects(store.putSnapshot(FA, 1, 7, bytes(7)), "INVALID_ARGUMENT");
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
        await expectRejects(store.ack(FA, dev("A"), 6), "INVALID_ARGUMENT");
        await expectRejects(store.ack(FA, dev("Z"), 1), "NOT_FOUND");
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
        expect((await store.readLog(FA, 0, 100, 1_000)).map((x) => x.seq)).toEqual([
          5, 6, 7, 8, 9, 10,
        ]);

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
        await expectRejects(store.append(FA, dev("A"), 5, bytes(5)), "ALREADY_EXISTS");
        await expectRejects(store.append(FA, dev("B"), 2, bytes(9)), "ALREADY_EXISTS");
        expect(await store.append(FA, dev("A"), 9, bytes(9))).toEqual({ seq: 9, duplicate: true });
        expect((await store.append(FA, dev("A"), 11, bytes(11))).seq).toBe(11);
      });

      test("folderUsage counts each folder's log and snapshot, appends and prunes alike", async () => {
        const unknown = ("c".repeat(25) + "a") as FolderId;
        const none = { logEntries: 0, logBytes: 0, snapshotBytes: 0 };
        expect(await store.folderUsage([FA, FB, unknown])).toEqual(
          new Map([
            [FA, none],
            [FB, none],
          ]),
        );
        for (let i = 1; i <= 4; i++) await store.append(FA, dev("A"), i, new Uint8Array(10 * i));
        await store.append(FA, dev("A"), 4, new Uint8Array(40)); // a duplicate counts once
        await store.append(FB, dev("B"), 1, new Uint8Array(7));
        await store.putSnapshot(FA, 0, 2, new Uint8Array(300));
        expect(await store.folderUsage([FA, FB])).toEqual(
          new Map([
            [FA, { logEntries: 4, logBytes: 100, snapshotBytes: 300 }],
            [FB, { logEntries: 1, logBytes: 7, snapshotBytes: 0 }],
          ]),
        );
        await store.ack(FA, dev("A"), 4);
        await store.ack(FA, dev("B"), 4);
        expect(await store.pruneLog(FA)).toBe(2);
        await store.putSnapshot(FA, 0, 3, new Uint8Array(50)); // replaces the snapshot
        expect((await store.folderUsage([FA])).get(FA)).toEqual({
          logEntries: 2,
          logBytes: 70,
          snapshotBytes: 50,
        });
        expect(await store.folderUsage([])).toEqual(new Map());
      });
    });

    describe("members, devices and key epochs", () => {
      test("publishEpoch stores the announcement and keys at once, moves the epoch, clears a rotation due", async () => {
        const a = await accountWith("alice", "A", "B");
        const b = await accountWith("bob", "C");
        await store.createFolder(FA, a);
        await store.setMember(FA, b, "editor");
        await store.putWrappedKey(FA, dev("A"), 0, bytes(0));
        await store.putWrappedKey(FA, dev("C"), 0, bytes(0));
        await store.removeMember(FA, b);
        expect((await store.folder(FA))?.rotationDue).toBe(true);
        clock = 2_000;
        const keys = new Map([
          [dev("A"), bytes(1, 1)],
          [dev("B"), bytes(1, 2)],
        ]);
        await expectRejects(store.publishEpoch(FA, 2, dev("A"), "r2", keys), "INVALID_ARGUMENT");
        await expectRejects(
          store.publishEpoch(FA, 1, dev("A"), "r1", new Map([[dev("Z"), bytes(1)]])),
          "NOT_FOUND",
        );
        // The failed attempt left nothing behind: no announcement, no key, the same epoch.
        expect(await store.epochAnnouncements(FA, 0)).toEqual([]);
        expect((await store.folder(FA))?.epoch).toBe(0);
        await store.publishEpoch(FA, 1, dev("A"), "r1", keys);
        expect(await store.folder(FA)).toEqual({
          folderId: FA,
          epoch: 1,
          created: 1_000,
          headSeq: 0,
        });
        expect(await store.epochAnnouncements(FA, 0)).toEqual([
          { epoch: 1, signer: dev("A"), record: "r1", created: 2_000 },
        ]);
        expect(await store.epochAnnouncements(FA, 1)).toEqual([]);
        expect(await store.wrappedKeys(FA, dev("B"))).toEqual([{ epoch: 1, blob: bytes(1, 2) }]);
        // Of two owners starting the same epoch, the second is refused.
        await expectRejects(store.publishEpoch(FA, 1, dev("B"), "again", keys), "INVALID_ARGUMENT");
        const [alice] = await store.memberDevices(FA);
        expect(await store.memberDevices(FA)).toHaveLength(1);
        expect(alice?.user).toBe("alice");
        expect(alice?.devices.map((d) => [d.deviceId, d.keyEpoch])).toEqual([
          [dev("A"), 1],
          [dev("B"), 1],
        ]);
      });

      test("removeDevice revokes its tokens, stops it counting, marks its folders' rotation due, once", async () => {
        const a = await accountWith("alice", "A", "B");
        await store.createFolder(FA, a);
        await store.createFolder(FB, a);
        await store.putWrappedKey(FA, dev("B"), 0, bytes(0));
        await store.putWrappedKey(FA, dev("A"), 0, bytes(0));
        await store.saveRefreshToken({
          tokenHash: "tb",
          family: "f",
          accountId: a,
          expires: 9,
          deviceId: dev("B"),
        });
        await store.saveRefreshToken({
          tokenHash: "ta",
          family: "g",
          accountId: a,
          expires: 9,
          deviceId: dev("A"),
        });
        await store.setDeviceName(dev("B"), "laptop");
        expect((await store.device(dev("B")))?.name).toBe("laptop");
        await store.setDeviceName(dev("B"), null);
        expect((await store.device(dev("B")))?.name).toBeUndefined();
        await expectRejects(store.setDeviceName(dev("Z"), "x"), "NOT_FOUND");

        expect(await store.removeDevice(dev("B"), 5_000)).toEqual([FA]);
        expect(await store.removeDevice(dev("B"), 6_000)).toEqual([]);
        await expectRejects(store.removeDevice(dev("Z"), 1), "NOT_FOUND");
        expect((await store.device(dev("B")))?.removed).toBe(5_000);
        expect((await store.refreshToken("tb"))?.revoked).toBe(true);
        expect((await store.refreshToken("ta"))?.revoked).toBe(false);
        expect((await store.folder(FA))?.rotationDue).toBe(true);
        expect((await store.folder(FB))?.rotationDue).toBeUndefined();
        expect(await store.memberDeviceKey(FA, dev("B"))).toBeUndefined();
        const [alice] = await store.memberDevices(FA);
        expect(alice?.devices.map((d) => d.deviceId)).toEqual([dev("A")]);
      });

      test("firstSeqAfter finds the next entry, pruned ones gone", async () => {
        const a = await accountWith("alice", "A");
        await store.createFolder(FA, a);
        expect(await store.firstSeqAfter(FA, 0)).toBeUndefined();
        for (let i = 1; i <= 4; i++) await store.append(FA, dev("A"), i, bytes(i));
        expect(await store.firstSeqAfter(FA, 0)).toBe(1);
        expect(await store.firstSeqAfter(FA, 2)).toBe(3);
        expect(await store.firstSeqAfter(FA, 4)).toBeUndefined();
        await store.ack(FA, dev("A"), 3);
        await store.putSnapshot(FA, 0, 3, bytes(3));
        expect(await store.pruneLog(FA)).toBe(3);
        expect(await store.firstSeqAfter(FA, 0)).toBe(4);
        await expectRejects(store.firstSeqAfter(FB, 0), "NOT_FOUND");
      });
    });

    test("close: further calls reject with STORAGE; closing again is a no-op", async () => {
      await store.close();
      await store.close();
      await expectRejects(store.headSeq(FA), "STORAGE");
      await expectRejects(store.createAccount("x", "h"), "STORAGE");
    });
  });
}
