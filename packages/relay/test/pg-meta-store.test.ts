// PgMetaStore: the MetaStore conformance suite (helpers/meta-store-suite.ts) on a real
// PostgreSQL database of this file's own, plus what only a shared database has: appends from
// two relays (two pools) at once, migrations run by several relays starting together.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  PG_SCHEMA_VERSION,
  type PgMetaStore,
  migratePgDatabase,
  openPgMetaStore,
} from "../src/store/pg/index.js";
import { openPgRelayStore } from "../src/store/pg/relay-store.js";
import { expectRejects, runMetaStoreTests } from "./helpers/meta-store-suite.js";
import { type TestDatabase, createTestDatabase } from "@weft/test-support";

const FA = ("a".repeat(25) + "a") as FolderId;
const dev = (letter: string): DeviceId => ("ABCD-".repeat(7) + "EFG" + letter) as DeviceId;
const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** Every table the store writes, children first: emptied before each test. */
const TABLES = [
  "acks",
  "snapshots",
  "file_heads",
  "pruned_device_seqs",
  "log",
  "invites",
  "epochs",
  "wrapped_keys",
  "members",
  "refresh_tokens",
  "folders",
  "devices",
  "accounts",
  "relay_secrets",
];
const empty = (): Promise<unknown> => db.query(TABLES.map((t) => `DELETE FROM ${t};`).join(" "));

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await migratePgDatabase(db.url);
});
afterAll(async () => {
  await db?.drop();
});

runMetaStoreTests("PostgreSQL", async (now) => {
  await empty();
  const store = await openPgMetaStore(db.url, { now, migrate: false });
  return { store, close: () => store.close() };
});

describe("PostgreSQL: several relays on one database", () => {
  /** Two stores on two pools: two relays. */
  async function twoRelays(): Promise<[PgMetaStore, PgMetaStore]> {
    await empty();
    return [await openPgMetaStore(db.url), await openPgMetaStore(db.url)];
  }

  test("concurrent appends to one folder from two relays get seqs 1..N, no gap, no duplicate", async () => {
    const [one, two] = await twoRelays();
    try {
      const alice = await one.createAccount("alice", "h");
      await one.addDevice(alice.id, dev("A"), key(1), key(1));
      await one.addDevice(alice.id, dev("B"), key(2), key(2));
      await one.createFolder(FA, alice.id);
      const perDevice = 20;
      const appends = [];
      for (let i = 1; i <= perDevice; i++) {
        appends.push(one.append(FA, dev("A"), i, Uint8Array.of(1, i)));
        appends.push(two.append(FA, dev("B"), i, Uint8Array.of(2, i)));
      }
      const results = await Promise.all(appends);
      const seqs = results.map((r) => r.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: 2 * perDevice }, (_, i) => i + 1));
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect(await two.headSeq(FA)).toBe(2 * perDevice);
      const log = await two.readLog(FA, 0, 1000, 1_000_000);
      expect(log.map((e) => e.seq)).toEqual(seqs);
      // Every (device, deviceSeq) is in the log once.
      const sent = new Set(log.map((e) => `${e.envelope[0]}:${e.envelope[1]}`));
      expect(sent.size).toBe(2 * perDevice);
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("an append is one statement on the wire: no BEGIN, no COMMIT, one round trip", async () => {
    const [one, two] = await twoRelays();
    await two.close();
    const sent = vi.spyOn(pg.Client.prototype, "query");
    try {
      const alice = await one.createAccount("alice", "h");
      await one.addDevice(alice.id, dev("A"), key(1), key(1));
      await one.createFolder(FA, alice.id);
      sent.mockClear();
      expect(await one.append(FA, dev("A"), 1, Uint8Array.of(1))).toEqual({
        seq: 1,
        duplicate: false,
      });
      expect(await one.append(FA, dev("A"), 1, Uint8Array.of(1))).toEqual({
        seq: 1,
        duplicate: true,
      });
      expect(await one.append(FA, dev("A"), 2, Uint8Array.of(2))).toEqual({
        seq: 2,
        duplicate: false,
      });
      expect(sent).toHaveBeenCalledTimes(3);
    } finally {
      sent.mockRestore();
      await one.close();
    }
  });

  test("concurrent retries of one (device, deviceSeq) from two relays store it once", async () => {
    const [one, two] = await twoRelays();
    try {
      const alice = await one.createAccount("alice", "h");
      await one.addDevice(alice.id, dev("A"), key(1), key(1));
      await one.createFolder(FA, alice.id);
      const envelope = Uint8Array.of(9, 9, 9);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).append(FA, dev("A"), 1, envelope)),
      );
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.seq))).toEqual(new Set([1]));
      expect(await one.headSeq(FA)).toBe(1);
      // Other bytes under the same deviceSeq, from either relay, are refused.
      await expectRejects(two.append(FA, dev("A"), 1, Uint8Array.of(1)), "ALREADY_EXISTS");
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("the JWT secret is made once and shared: relays racing to make it all get the first", async () => {
    const [one, two] = await twoRelays();
    try {
      let made = 0;
      const make = (): string => `secret-${++made}`;
      const secrets = await Promise.all([
        one.sharedSecret("jwt", make),
        two.sharedSecret("jwt", make),
        one.sharedSecret("jwt", make),
      ]);
      expect(new Set(secrets).size).toBe(1);
      expect(await two.sharedSecret("jwt", () => "another")).toBe(secrets[0]);
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("relays opened on one database sign with one JWT secret, unless WEFT_RELAY_JWT_SECRET is given", async () => {
    await empty();
    const ignore = (): void => undefined;
    const opened = await Promise.all([
      openPgRelayStore(db.url, undefined, ignore),
      openPgRelayStore(db.url, undefined, ignore),
    ]);
    const given = await openPgRelayStore(db.url, "g".repeat(40), ignore);
    try {
      const [one, two] = opened.map((o) => new TextDecoder().decode(o.jwtSecret));
      expect(one).toBe(two);
      expect(one!.length).toBeGreaterThanOrEqual(43);
      expect(new TextDecoder().decode(given.jwtSecret)).toBe("g".repeat(40));
    } finally {
      for (const o of [...opened, given]) await o.meta.close();
    }
  });

  test("invite ids are stored as their SHA-256, never as given", async () => {
    const [one, two] = await twoRelays();
    try {
      const alice = await one.createAccount("alice", "h");
      await one.createFolder(FA, alice.id);
      const id = "bearer-secret-invite-id";
      await one.createInvite({
        id,
        folderId: FA,
        role: "viewer",
        createdBy: alice.id,
        expires: 9,
        wrappedKey: key(3),
        epoch: 0,
      });
      const rows = await db.query<{ id: string }>("SELECT id FROM invites");
      expect(rows).toHaveLength(1);
      expect(rows[0]!.id).toMatch(/^[0-9a-f]{64}$/);
      expect((await two.invite(id))?.id).toBe(id);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe("PostgreSQL: migrations and connections", () => {
  test("migrations run once when three relays start together, and again change nothing", async () => {
    const fresh = await createTestDatabase();
    try {
      const all = Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1);
      const runs = await Promise.all([
        migratePgDatabase(fresh.url),
        migratePgDatabase(fresh.url),
        migratePgDatabase(fresh.url),
        openPgMetaStore(fresh.url).then((s) => s.close()),
      ]);
      // Each step was applied by one of them (or by the store's open), none twice.
      const applied = runs.slice(0, 3).flat() as number[];
      expect(new Set(applied).size).toBe(applied.length);
      const versions = await fresh.query<{ version: number }>(
        "SELECT version FROM schema_migrations ORDER BY version",
      );
      expect(versions.map((v) => v.version)).toEqual(all);
      expect(await migratePgDatabase(fresh.url)).toEqual([]);
    } finally {
      await fresh.drop();
    }
  });

  test("a database migrated by a newer relay is refused with STORAGE", async () => {
    const newer = PG_SCHEMA_VERSION + 1;
    await db.query("INSERT INTO schema_migrations (version) VALUES ($1)", [newer]);
    try {
      const error = await expectRejects(openPgMetaStore(db.url), "STORAGE");
      expect(error.message).toMatch(/newer/);
      await expectRejects(migratePgDatabase(db.url), "STORAGE");
    } finally {
      await db.query("DELETE FROM schema_migrations WHERE version = $1", [newer]);
    }
  });

  test("an unreachable database is STORAGE with the cause, and no message holds the password", async () => {
    const error = await expectRejects(
      openPgMetaStore("postgres://weft:hunter2-secret@127.0.0.1:1/weft"),
      "STORAGE",
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).toContain("127.0.0.1:1");
    expect(error.message).not.toContain("hunter2");
    expect(String((error.cause as Error).message)).not.toContain("hunter2");
    await expectRejects(openPgMetaStore("mysql://x@127.0.0.1/weft"), "INVALID_OPTIONS");
  });
});
