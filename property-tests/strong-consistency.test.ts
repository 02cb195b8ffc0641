/**
 * Strong-consistency folders (issue 20), with real sealing over the in-memory hub: three
 * replicas write, create, move and remove the same few paths, while partitions cut some of them
 * off (their writes queue), the hub duplicates and reorders, and replicas crash and reopen from
 * their state. After every step no replica shows a conflict copy; at the end every replica
 * lists the same tree and reads the same bytes, and every write is either accepted (its content
 * current or in history) or refused and kept by the device that made it, never both, never
 * neither.
 */
import fc from "fast-check";
import { type Replica, buildManifest } from "@weft/core";
import { createTestNetwork } from "@weft/core/testing";
import { describe, expect, it } from "vitest";
import { propertyParams } from "./config.js";

type Step =
  | { t: "write"; r: number; path: number }
  | { t: "move"; r: number; from: number; to: number }
  | { t: "remove"; r: number; path: number }
  | { t: "partition"; mask: number }
  | { t: "heal" }
  | { t: "crash"; r: number }
  | { t: "settle" };

const PATHS = ["a.txt", "b.txt", "dir/c.txt", "dir/sub/e.md"];
const DIRS = ["dir", "dir/sub"];
const DEVICES = 3;
const anyPath = (i: number): string => [...PATHS, ...DIRS][i]!;

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      r: fc.nat(DEVICES - 1),
      path: fc.nat(PATHS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("move" as const),
      r: fc.nat(DEVICES - 1),
      from: fc.nat(PATHS.length + DIRS.length - 1),
      to: fc.nat(PATHS.length + DIRS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("remove" as const),
      r: fc.nat(DEVICES - 1),
      path: fc.nat(PATHS.length + DIRS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("partition" as const),
      mask: fc.integer({ min: 1, max: 2 ** DEVICES - 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "heal" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("crash" as const), r: fc.nat(DEVICES - 1) }) },
  { weight: 2, arbitrary: fc.constant({ t: "settle" as const }) },
);

const encoder = new TextEncoder();

/** Refusals and acceptances over the whole run: a run that never refuses proves nothing. */
let refusedTotal = 0;
let acceptedTotal = 0;

/** Local refusals of an operation the state makes impossible (no such file…) are fine. */
async function attempt(run: () => Promise<void>): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (["NOT_FOUND", "ALREADY_EXISTS", "IS_A_DIRECTORY", "INVALID_PATH"].includes(code ?? ""))
      return false;
    throw error;
  }
}

/** No conflict copy anywhere: no conflicted file, no name a copy would have. */
function expectNoConflictCopy(replicas: readonly Replica[], seed: number): void {
  for (const r of replicas) {
    expect(r.conflicts(), `a conflict appeared (seed ${seed})`).toEqual([]);
    for (const e of r.list())
      expect(e.path, `a conflict copy appeared (seed ${seed})`).not.toMatch(
        /sync-conflict|name-clash/,
      );
  }
}

describe("strong consistency (property, real sealing, in-memory hub)", () => {
  it("no conflict copy ever appears, every refused write is kept and reported, no accepted write is lost", async () => {
    const params = propertyParams<[number, Step[]]>(60);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.array(step, { minLength: 1, maxLength: 16 }),
        async (seed, steps) => {
          const net = await createTestNetwork({
            devices: DEVICES,
            seed,
            duplicateRate: 0.2,
            reorderRate: 0.2,
            replica: {
              consistency: "strong",
              retention: { maxVersions: Infinity, maxAgeMs: Infinity },
              snapshotEvery: 4,
            },
          });
          try {
            // Every write made: its content hash → the device that made it.
            const written = new Map<string, number>();
            let n = 0;
            const r = (i: number): Replica => net.replicas[i]!;
            for (const s of steps) {
              switch (s.t) {
                case "write": {
                  const data = encoder.encode(`write ${n++} by ${s.r} (seed ${seed})`);
                  if (await attempt(() => r(s.r).writeFile(PATHS[s.path]!, data)))
                    written.set(await contentHash(data), s.r);
                  break;
                }
                case "move":
                  await attempt(() => r(s.r).move(anyPath(s.from), anyPath(s.to)));
                  break;
                case "remove":
                  await attempt(() => r(s.r).remove(anyPath(s.path)));
                  break;
                case "partition": {
                  const a: number[] = [];
                  const b: number[] = [];
                  for (let i = 0; i < DEVICES; i++) ((s.mask >> i) & 1 ? b : a).push(i);
                  net.partition(a, b);
                  break;
                }
                case "heal":
                  net.heal();
                  break;
                case "crash":
                  await net.crash(s.r);
                  break;
                case "settle":
                  await net.settle({ timeoutMs: 20_000 });
                  break;
              }
              expectNoConflictCopy(net.replicas, seed);
            }
            net.heal();
            await net.settle({ timeoutMs: 20_000 });
            expectNoConflictCopy(net.replicas, seed);

            // Convergence, and nothing left queued.
            const trees = net.replicas.map((x) => x.list());
            for (const t of trees.slice(1)) expect(t).toEqual(trees[0]);
            for (const e of trees[0]!.filter((x) => x.kind === "file")) {
              const bytes = await Promise.all(net.replicas.map((x) => x.readFile(e.path)));
              for (const b of bytes.slice(1))
                expect(Buffer.from(b).equals(Buffer.from(bytes[0]!))).toBe(true);
            }
            for (const x of net.replicas) expect(x.queuedWrites()).toEqual([]);

            // Each write accepted (current or in history: kept for ever here) xor refused and
            // kept by its writer.
            const a = r(0);
            const accepted = new Set<string>();
            for (const e of trees[0]!) if (e.contentHash) accepted.add(e.contentHash);
            for (const id of a.index.fileIds())
              for (const v of a.index.historyOf(id))
                if (v.manifest) accepted.add(v.manifest.contentHash);
            const refused = new Map<string, number>();
            net.replicas.forEach((x, i) => {
              for (const w of x.refusedWrites())
                if (w.op.kind === "write") refused.set(w.op.manifest.contentHash, i);
            });
            for (const [hash, device] of written) {
              const ok = accepted.has(hash);
              const kept = refused.get(hash);
              expect(
                ok !== (kept !== undefined),
                `write ${hash.slice(0, 8)} of device ${device} is ${ok ? "accepted and refused" : "neither accepted nor refused"} (seed ${seed})`,
              ).toBe(true);
              if (kept !== undefined) expect(kept).toBe(device);
              if (ok) acceptedTotal++;
              else refusedTotal++;
            }
          } finally {
            await net.close();
          }
        },
      ),
      params,
    );
    if ((params.numRuns ?? 0) < 30) return;
    expect(refusedTotal, "no write was ever refused: the runs raced nothing").toBeGreaterThan(0);
    expect(acceptedTotal).toBeGreaterThan(refusedTotal);
  }, 600_000);
});

/** The content hash of `data`: SHA-256 over its chunks' SHA-256s, so it needs no key. */
async function contentHash(data: Uint8Array): Promise<string> {
  return (await buildManifest(data, { chunkIdKey: new Uint8Array(32) })).contentHash;
}
