// SqliteStateStore: the shared StateStore suite on a real file, plus what only a file has:
// permissions, schema versions, damaged files, and surviving a SIGKILL mid-transaction.
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { WeftError } from "@weft/core";
import { compareStorageKeys } from "@weft/core/storage";
import { expectSameBytes, expectWeftError, runStateStoreTests } from "@weft/core/conformance";
import { SqliteStateStore } from "../src/index.js";
import { decodeKey, encodeKey, encodePrefixRange } from "../src/key-encoding.js";
import { SCHEMA_VERSION } from "../src/migrations.js";
import { PARTS, genOf, partBytes } from "./fixtures/crash-writer.js";

runStateStoreTests("SqliteStateStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-sqlite-"));
  const path = join(dir, "nested", "state.db");
  return {
    store: await SqliteStateStore.open(path),
    reopen: () => SqliteStateStore.open(path),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});

describe("SqliteStateStore on disk", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-sqlite-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("open creates parent directories and files only their owner can read", async () => {
    const path = join(dir, "a", "b", "state.db");
    const store = await SqliteStateStore.open(path);
    try {
      await store.save(["k"], Uint8Array.of(1));
      expect((await stat(join(dir, "a", "b"))).mode & 0o777).toBe(0o700);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      // SQLite gives its journal files the database file's mode.
      expect((await stat(`${path}-wal`)).mode & 0o777).toBe(0o600);
      expect((await stat(`${path}-shm`)).mode & 0o777).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  test("an existing file readable by others is made owner-only on open", async () => {
    const path = join(dir, "state.db");
    await writeFile(path, new Uint8Array(0));
    await chmod(path, 0o644);
    await (await SqliteStateStore.open(path)).close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  test("opening migrates a new file to the current schema, and reopening keeps the data", async () => {
    const path = join(dir, "state.db");
    const store = await SqliteStateStore.open(path);
    await store.save(["k"], Uint8Array.of(7));
    await store.close();
    const db = new Database(path);
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
    const again = await SqliteStateStore.open(path);
    try {
      expect(await again.load(["k"])).toEqual(Uint8Array.of(7));
    } finally {
      await again.close();
    }
  });

  test("a file from a newer version of Weft is refused with STORAGE naming the file", async () => {
    const path = join(dir, "state.db");
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const error = await SqliteStateStore.open(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeftError);
    expect((error as WeftError).code).toBe("STORAGE");
    expect((error as WeftError).message).toContain(path);
    expect((error as WeftError).message).toMatch(/newer/);
  });

  test("a file that is not a database is refused with STORAGE naming the file, not SQLite's words", async () => {
    const path = join(dir, "state.db");
    await writeFile(path, new Uint8Array(8192).fill(0x5a));
    const error = await SqliteStateStore.open(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeftError);
    expect((error as WeftError).code).toBe("STORAGE");
    expect((error as WeftError).message).toContain(path);
    expect((error as WeftError).cause).toBeInstanceOf(Error);
    // SQLite's message stays in the cause (for logs): it can quote SQL and values.
    const sqliteMessage = ((error as WeftError).cause as Error).message;
    expect((error as WeftError).message).not.toContain(sqliteMessage);
  });

  test("a damaged key in the file is reported as STORAGE, never returned", async () => {
    const path = join(dir, "state.db");
    const store = await SqliteStateStore.open(path);
    try {
      await store.save(["good"], Uint8Array.of(1));
      const db = new Database(path);
      try {
        db.prepare("INSERT INTO state (key, data) VALUES (?, ?)").run(
          Buffer.from([0xff, 0xfe, 0x00]),
          Buffer.from([2]),
        );
      } finally {
        db.close();
      }
      await expectWeftError(store.loadRange([]), "STORAGE");
      expect(await store.load(["good"])).toEqual(Uint8Array.of(1));
    } finally {
      await store.close();
    }
  });

  test("a process killed with SIGKILL mid-transaction leaves the store before or after it", async () => {
    const path = join(dir, "crash", "state.db");
    // Two kinds of rounds on one file. The parent kills the writer at a random moment of a
    // transaction's cycle (building it, writing it, its commit, fsync or checkpoint): nothing the
    // writer saw committed may be lost. Or the writer kills itself inside a transaction after
    // writing `dieAtPart` of its parts (and removing the ["old"] keys): none of that may show.
    const rounds: { dieAtPart?: number }[] = [{}, { dieAtPart: 6 }, {}, { dieAtPart: 1 }, {}];
    for (const { dieAtPart } of rounds) {
      const selfKill = dieAtPart !== undefined;
      const reported = await runWriterAndKill(path, 5, dieAtPart);
      const store = await SqliteStateStore.open(path);
      try {
        const stored = await store.load(["gen"]);
        expect(stored).toBeDefined();
        const gen = genOf(stored as Uint8Array);
        // Every commit the writer saw succeed is there; at most one more committed unreported,
        // and none when the writer died inside the transaction after its last report.
        const ok = gen === reported || (!selfKill && gen === reported + 1);
        expect(ok, `gen ${gen}, reported ${reported}`).toBe(true);
        // And the transaction is whole: every part and the ["old"] key from that generation.
        for (let k = 0; k < PARTS; k++)
          expectSameBytes(await store.load(["part", String(k)]), partBytes(gen, k));
        expect((await store.loadRange(["old"])).map((e) => e.key)).toEqual([["old", String(gen)]]);
      } finally {
        await store.close();
      }
      const db = new Database(path);
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      } finally {
        db.close();
      }
    }
  }, 120_000);
});

describe("the key encoding", () => {
  const part = fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 6 })
    .filter((s) => !s.includes("\0") && new TextEncoder().encode(s).length <= 255);
  const key = fc.array(part, { minLength: 1, maxLength: 5 });

  test("SQLite's byte order of encoded keys is the key order", () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        const bytes = Math.sign(Buffer.compare(encodeKey(a), encodeKey(b)));
        expect(bytes).toBe(Math.sign(compareStorageKeys(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  test("a prefix's byte range holds exactly the keys that start with it", () => {
    fc.assert(
      fc.property(key, key, (prefix, k) => {
        const [low, high] = encodePrefixRange(prefix) as [Buffer, Buffer];
        const e = encodeKey(k);
        const inRange = Buffer.compare(e, low) >= 0 && Buffer.compare(e, high) < 0;
        const starts = prefix.length <= k.length && prefix.every((p, i) => p === k[i]);
        expect(inRange).toBe(starts);
        // Also with the key extended by the prefix, so the true case is exercised often.
        const under = encodeKey([...prefix, ...k].slice(0, 16));
        expect(Buffer.compare(under, low) >= 0 && Buffer.compare(under, high) < 0).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  test("decoding an encoded key gives the key back", () => {
    fc.assert(fc.property(key, (k) => void expect(decodeKey(encodeKey(k))).toEqual(k)));
  });
});

/**
 * Runs the crash writer on `path` until it dies of SIGKILL, and returns the last generation it
 * reported. Without `dieAtPart`, the parent kills it at a random moment of a transaction's cycle
 * once it has reported `commits` generations; with it, the writer kills itself inside its
 * transaction after `commits` commits, after writing that many parts.
 */
async function runWriterAndKill(
  path: string,
  commits: number,
  dieAtPart?: number,
): Promise<number> {
  const launcher = fileURLToPath(new URL("./fixtures/run-crash-writer.mjs", import.meta.url));
  const args = dieAtPart === undefined ? [] : [String(commits), String(dieAtPart)];
  const child = spawn(process.execPath, [launcher, path, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const reportedAt: number[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
    for (const c of s) if (c === "\n") reportedAt.push(performance.now());
    if (dieAtPart === undefined && killTimer === undefined && reportedAt.length >= commits) {
      const first = reportedAt[0] as number;
      const last = reportedAt[reportedAt.length - 1] as number;
      const perTransaction = (last - first) / (reportedAt.length - 1);
      killTimer = setTimeout(() => child.kill("SIGKILL"), Math.random() * perTransaction);
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("close", (c, s) => resolve([c, s])),
  );
  clearTimeout(killTimer);
  expect(signal, `writer exited by itself (code ${code}): ${err}`).toBe("SIGKILL");
  const gens = out
    .split("\n")
    .filter((line) => line !== "")
    .map(Number);
  return gens.at(-1) ?? 0;
}
