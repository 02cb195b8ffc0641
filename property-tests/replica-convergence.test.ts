/**
 * Replica-level properties with real sealing over the in-memory hub: random file operations on
 * random devices, partitions that heal, duplicated and reordered delivery, crashes (reopened from the
 * StateStore). Afterwards every replica lists the same tree and reads the same bytes, no
 * content any device wrote is lost (current, conflict copy or history), and the hub holds
 * nothing but ciphertext.
 */
import type { ChunkId } from "@weft/crypto";
import fc from "fast-check";
import { type Replica, buildManifest } from "@weft/core";
import { createTestNetwork } from "@weft/core/testing";
import { describe, expect, it } from "vitest";
import { propertyParams } from "./config.js";

type Step =
  | { t: "write"; r: number; path: number; body: number }
  | { t: "writeMany"; r: number; files: { path: number; body: number }[] }
  | { t: "mkdir"; r: number; path: number }
  | { t: "move"; r: number; from: number; to: number }
  | { t: "remove"; r: number; path: number }
  | { t: "partition"; mask: number }
  | { t: "heal" }
  | { t: "crash"; r: number }
  | { t: "settle" };

const PATHS = ["a.txt", "b.txt", "dir/c.txt", "dir/d", "dir/sub/e.md", "f"];
const DIRS = ["dir", "dir/sub", "g"];
const DEVICES = 3;

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      r: fc.nat(DEVICES - 1),
      path: fc.nat(PATHS.length - 1),
      body: fc.nat(1_000_000),
    }),
  },
  {
    // Several files as one change (Replica.writeFiles: a scan's batch), some of which may fail.
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("writeMany" as const),
      r: fc.nat(DEVICES - 1),
      files: fc.array(
        fc.record({ path: fc.nat(PATHS.length + DIRS.length - 1), body: fc.nat(1_000_000) }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("mkdir" as const),
      r: fc.nat(DEVICES - 1),
      path: fc.nat(DIRS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("move" as const),
      r: fc.nat(DEVICES - 1),
      from: fc.nat(PATHS.length + DIRS.length - 1),
      to: fc.nat(PATHS.length + DIRS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("remove" as const),
      r: fc.nat(DEVICES - 1),
      path: fc.nat(PATHS.length + DIRS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("partition" as const),
      mask: fc.integer({ min: 1, max: 2 ** DEVICES - 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "heal" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("crash" as const), r: fc.nat(DEVICES - 1) }) },
  { weight: 1, arbitrary: fc.constant({ t: "settle" as const }) },
);

const encoder = new TextEncoder();
/** A body that is recognisable in plaintext (to prove the hub never sees it) and sometimes multi-chunk. */
function body(n: number): Uint8Array {
  const marker = `PLAINTEXT-MARKER-${n}|`;
  return encoder.encode(marker.repeat(n % 7 === 0 ? 2000 : 1 + (n % 5)));
}

const anyPath = (i: number): string => [...PATHS, ...DIRS][i]!;

/** Operations tried and accepted over the whole run, by kind: a run that refuses them all proves nothing. */
const tally = new Map<string, { tried: number; accepted: number }>();

/** Refusals that the state makes legitimate (no such file…). */
const REFUSALS = [
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "NOT_A_DIRECTORY",
  "IS_A_DIRECTORY",
  "MOVE_INTO_SELF",
  "INVALID_PATH",
];

/** Runs a local operation; refusals that the state makes legitimate (no such file…) are fine. */
async function attempt(kind: string, run: () => Promise<void>): Promise<boolean> {
  let t = tally.get(kind);
  if (!t) tally.set(kind, (t = { tried: 0, accepted: 0 }));
  t.tried++;
  try {
    await run();
    t.accepted++;
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (REFUSALS.includes(code ?? "")) return false;
    throw error;
  }
}

describe("Replica convergence (property, real sealing, in-memory hub)", () => {
  it("every replica ends with the same tree and bytes, nothing lost, hub holds ciphertext only", async () => {
    // Each case runs three sealing replicas over a hub: 200 cases by default, not the 1,000 of
    // the in-memory suites (PROPERTY_RUNS raises it for a long run).
    const params = propertyParams<[number, Step[]]>(200);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.array(step, { minLength: 1, maxLength: 14 }),
        async (seed, steps) => {
          const net = await createTestNetwork({
            devices: DEVICES,
            seed,
            duplicateRate: 0.2,
            reorderRate: 0.2,
            replica: { retention: { maxVersions: Infinity, maxAgeMs: Infinity }, snapshotEvery: 4 },
          });
          try {
            const written = new Set<number>();
            const offline = new Set<number>();
            const r = (i: number): Replica => net.replicas[i]!;
            for (const s of steps) {
              switch (s.t) {
                case "write":
                  if (await attempt("write", () => r(s.r).writeFile(PATHS[s.path]!, body(s.body))))
                    written.add(s.body);
                  break;
                case "writeMany": {
                  const results = await r(s.r).writeFiles(
                    s.files.map((f) => ({ path: anyPath(f.path), data: body(f.body) })),
                  );
                  results.forEach((error, i) => {
                    let t = tally.get("writeMany");
                    if (!t) tally.set("writeMany", (t = { tried: 0, accepted: 0 }));
                    t.tried++;
                    if (!error) {
                      t.accepted++;
                      written.add(s.files[i]!.body);
                    } else if (!REFUSALS.includes((error as { code?: string }).code ?? ""))
                      throw error;
                  });
                  break;
                }
                case "mkdir":
                  await attempt("mkdir", () => r(s.r).mkdir(DIRS[s.path]!));
                  break;
                case "move":
                  await attempt("move", () => r(s.r).move(anyPath(s.from), anyPath(s.to)));
                  break;
                case "remove":
                  await attempt("remove", () => r(s.r).remove(anyPath(s.path)));
                  break;
                case "partition": {
                  const a: number[] = [];
                  const b: number[] = [];
                  for (let i = 0; i < DEVICES; i++) ((s.mask >> i) & 1 ? b : a).push(i);
                  net.partition(a, b);
                  offline.clear();
                  for (const i of b) offline.add(i);
                  break;
                }
                case "heal":
                  net.heal();
                  offline.clear();
                  break;
                case "crash":
                  await net.crash(s.r);
                  break;
                case "settle":
                  await net.settle({ timeoutMs: 20_000 });
                  break;
              }
            }
            net.heal();
            await net.settle({ timeoutMs: 20_000 });

            // 1. Convergence: the same tree and the same bytes everywhere.
            const trees = net.replicas.map((x) => x.list());
            for (const t of trees.slice(1)) expect(t).toEqual(trees[0]);
            for (const e of trees[0]!.filter((x) => x.kind === "file")) {
              const bytes = await Promise.all(net.replicas.map((x) => x.readFile(e.path)));
              for (const b of bytes.slice(1))
                expect(Buffer.from(b).equals(Buffer.from(bytes[0]!))).toBe(true);
            }
            // 2. No data loss: every body written is current, a conflict copy, or in history.
            const a = r(0);
            const hashes = new Set<string>();
            for (const e of trees[0]!) if (e.contentHash) hashes.add(e.contentHash);
            for (const id of a.index.fileIds())
              for (const v of a.index.historyOf(id))
                if (v.manifest) hashes.add(v.manifest.contentHash);
            for (const n of written) {
              const expected = await contentHash(body(n));
              expect(hashes.has(expected), `content ${n} lost (seed ${net.seed})`).toBe(true);
            }
            // 3. The hub holds only ciphertext.
            const markers = [...written].map((n) => encoder.encode(`PLAINTEXT-MARKER-${n}|`));
            const names = ["a.txt", "dir/c.txt", "e.md"].map((x) => encoder.encode(x));
            for (const { envelope } of net.hub.log(net.folderId))
              for (const needle of [...markers, ...names])
                expect(Buffer.from(envelope).indexOf(needle)).toBe(-1);
            for (const id of chunkIds(a)) {
              const sealed = await net.hub.blobs.get(id);
              if (sealed)
                for (const needle of markers) expect(Buffer.from(sealed).indexOf(needle)).toBe(-1);
            }
          } finally {
            await net.close();
          }
        },
      ),
      params,
    );
    // Most writes land (only a path that is a directory, or under a file, refuses one), and
    // every other kind of operation is accepted at least sometimes (in a run long enough to say).
    if ((params.numRuns ?? 0) < 50) return;
    const writes = tally.get("write")!;
    expect(writes.accepted).toBeGreaterThanOrEqual(writes.tried / 2);
    for (const kind of ["mkdir", "move", "remove", "writeMany"])
      expect(tally.get(kind)?.accepted ?? 0, `no ${kind} was ever accepted`).toBeGreaterThan(0);
  }, 600_000);
});

/** The content hash of `data`: SHA-256 over its chunks' SHA-256s, so it needs no key. */
async function contentHash(data: Uint8Array): Promise<string> {
  return (await buildManifest(data, { chunkIdKey: new Uint8Array(32) })).contentHash;
}

/** Every chunk id any current version of any file names. */
function chunkIds(replica: Replica): ChunkId[] {
  const out = new Set<ChunkId>();
  for (const id of replica.index.fileIds())
    for (const c of replica.index.file(id)?.contents ?? [])
      for (const ch of c.manifest?.chunks ?? []) out.add(ch.id);
  return [...out];
}
