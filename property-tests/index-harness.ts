/**
 * A simulated network of FolderIndex replicas for property tests: random local operations,
 * updates delivered in random order, duplicated, delayed, across partitions that heal.
 * Like Yjs's TestConnector, but for the folder index.
 */
import type { ChunkId, DeviceId } from "@weft/crypto";
import fc from "fast-check";
import { type FileId, FolderIndex, HybridClock, type Manifest } from "@weft/core";

/** One step of a scenario. Indices pick among what exists when the step runs. */
export type Op =
  | { t: "create"; r: number; dir: number; name: number; kind: "file" | "dir" }
  /** A file with one of a few shared contents: devices write identical files at one path. */
  | { t: "put"; r: number; dir: number; name: number; content: number }
  | { t: "write"; r: number; file: number }
  | { t: "delete"; r: number; entry: number }
  | { t: "move"; r: number; entry: number; dir: number; name: number }
  | { t: "resolve"; r: number; file: number; how: number }
  | { t: "restore"; r: number; file: number }
  | { t: "compact"; r: number }
  | { t: "deliver"; msg: number; to: number }
  | { t: "exchange"; from: number; to: number }
  | { t: "partition"; mask: number }
  | { t: "heal" }
  | { t: "time"; ms: number }
  | { t: "settle" }
  | { t: "check"; r: number }
  | { t: "restart"; r: number }
  | { t: "bulk"; r: number; count: number };

const NAMES = ["a", "b", "c.txt", "d"];
/** Tags of the shared contents of "put" (far above the unique ones "write" makes). */
const SHARED_CONTENT = 1_000_000;

/** Scenarios: 2–5 replicas, up to `maxOps` steps. */
export function arbScenario(maxOps = 60): fc.Arbitrary<{ replicas: number; ops: Op[] }> {
  return fc.integer({ min: 2, max: 5 }).chain((replicas) => {
    const r = fc.nat(replicas - 1);
    const idx = fc.nat(50);
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant("create" as const),
          r,
          dir: idx,
          name: fc.nat(NAMES.length - 1),
          kind: fc.constantFrom("file" as const, "dir" as const),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          t: fc.constant("put" as const),
          r,
          dir: idx,
          name: fc.nat(NAMES.length - 1),
          content: fc.nat(2),
        }),
      },
      { weight: 4, arbitrary: fc.record({ t: fc.constant("write" as const), r, file: idx }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant("delete" as const), r, entry: idx }) },
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant("move" as const),
          r,
          entry: idx,
          dir: idx,
          name: fc.nat(NAMES.length - 1),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ t: fc.constant("resolve" as const), r, file: idx, how: fc.nat(2) }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("restore" as const), r, file: idx }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("compact" as const), r }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("check" as const), r }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const), r }) },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant("bulk" as const),
          r,
          count: fc.integer({ min: 10, max: 80 }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ t: fc.constant("deliver" as const), msg: fc.nat(200), to: r }),
      },
      { weight: 2, arbitrary: fc.record({ t: fc.constant("exchange" as const), from: r, to: r }) },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant("partition" as const),
          mask: fc.nat((1 << replicas) - 1),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ t: "heal" as const }) },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant("time" as const),
          ms: fc.integer({ min: 0, max: 5000 }),
        }),
      },
    );
    // A shared starting tree (made on replica 0, then delivered everywhere) so that later
    // operations on different replicas touch the same files and directories concurrently.
    const setup = fc.array(
      fc.record({
        t: fc.constant("create" as const),
        r: fc.constant(0),
        dir: idx,
        name: fc.nat(NAMES.length - 1),
        kind: fc.constantFrom("file" as const, "dir" as const),
      }),
      { minLength: 2, maxLength: 10 },
    );
    return fc
      .tuple(setup, fc.array(op, { minLength: 5, maxLength: maxOps }))
      .map(([init, rest]) => ({ replicas, ops: [...init, { t: "settle" as const }, ...rest] }));
  });
}

/** A manifest for a piece of content identified by a number (valid, but not real bytes). */
export function fakeManifest(tag: number): Manifest {
  const hex = tag.toString(16).padStart(64, "0");
  return {
    chunks: [{ id: hex as ChunkId, size: 1 + (tag % 7) }],
    size: 1 + (tag % 7),
    contentHash: hex,
  };
}

/** A running simulation. */
export class Network {
  readonly replicas: FolderIndex[] = [];
  /** Every local update ever emitted, with its origin (for out-of-order, duplicated delivery). */
  readonly messages: { from: number; update: Uint8Array }[] = [];
  /** Every content hash any replica wrote. */
  readonly written = new Set<string>();
  private now = Date.UTC(2026, 0, 1);
  private nextContent = 1;
  private group: number[];

  private readonly nextIds: number[];
  private readonly runs: number[];

  constructor(count: number) {
    this.group = new Array<number>(count).fill(0);
    this.nextIds = new Array<number>(count).fill(0);
    this.runs = new Array<number>(count).fill(0);
    for (let i = 0; i < count; i++) this.replicas.push(this.open(i));
  }

  /** Opens replica `i`, from a snapshot when it restarts (same device, same clock). */
  private open(i: number, snapshot?: Uint8Array): FolderIndex {
    const options = {
      device: `DEV${i}` as DeviceId,
      clock: new HybridClock({ now: () => this.now }),
      retention: { maxVersions: Infinity, maxAgeMs: Infinity },
      newFileId: () => `r${i}-f${this.nextIds[i]!++}` as FileId,
      session: `r${i}x${this.runs[i]!++}`,
    };
    const index = snapshot ? FolderIndex.load(snapshot, options) : new FolderIndex(options);
    index.onLocalUpdate((update) => this.messages.push({ from: i, update }));
    return index;
  }

  /** Runs one step; operations that the replica's current view makes invalid are skipped. */
  run(op: Op): void {
    switch (op.t) {
      case "time":
        this.now += op.ms;
        return;
      case "partition":
        this.group = this.group.map((_, i) => (op.mask >> i) & 1);
        return;
      case "heal":
        this.group = this.group.map(() => 0);
        return;
      case "deliver": {
        if (this.messages.length === 0) return;
        const m = this.messages[op.msg % this.messages.length]!;
        if (this.group[m.from] === this.group[op.to]) this.replicas[op.to]!.applyDelta(m.update);
        return;
      }
      case "exchange":
        if (this.group[op.from] === this.group[op.to]) this.sync(op.from, op.to);
        return;
      case "compact":
        this.replicas[op.r]!.compact();
        return;
      case "settle":
        this.settle();
        return;
      case "restart":
        // The device stops and starts again from its own snapshot, then keeps writing.
        this.replicas[op.r] = this.open(op.r, this.replicas[op.r]!.snapshot());
        return;
      case "check": {
        // The tree kept up to date by patches equals a full rebuild from the same state.
        const idx = this.replicas[op.r]!;
        const fresh = FolderIndex.load(idx.snapshot(), { device: "CHECK" as DeviceId });
        const [got, want] = [describeTree(idx), describeTree(fresh)];
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(
            `replica ${op.r}: patched tree differs from a full rebuild\n${got.join("\n")}\n---\n${want.join("\n")}`,
          );
        }
        return;
      }
    }
    const idx = this.replicas[op.r]!;
    const entries = [...idx.tree().entries.values()].filter((e) => e.conflictVersion === undefined);
    const dirs = ["", ...entries.filter((e) => e.kind === "dir").map((e) => e.path)];
    const files = entries.filter((e) => e.kind === "file");
    const pick = <T>(list: T[], i: number): T | undefined =>
      list.length === 0 ? undefined : list[i % list.length];
    const join = (dir: string, name: string): string => (dir === "" ? name : `${dir}/${name}`);
    switch (op.t) {
      case "create": {
        const path = join(pick(dirs, op.dir)!, NAMES[op.name]!);
        if (idx.stat(path)) return;
        if (op.kind === "dir") idx.mkdir(path);
        else this.write(idx, path);
        return;
      }
      case "put": {
        const path = join(pick(dirs, op.dir)!, NAMES[op.name]!);
        const there = idx.stat(path);
        if (there && there.kind !== "file") return;
        const manifest = fakeManifest(SHARED_CONTENT + op.content);
        this.written.add(manifest.contentHash);
        idx.writeFile(path, { manifest });
        return;
      }
      case "write": {
        const f = pick(files, op.file);
        if (f) this.write(idx, f.path);
        return;
      }
      case "delete": {
        const e = pick(entries, op.entry);
        if (e) idx.remove(e.path);
        return;
      }
      case "move": {
        const e = pick(entries, op.entry);
        const dir = pick(dirs, op.dir)!;
        if (!e || dir === e.path || dir.startsWith(`${e.path}/`)) return;
        const to = join(dir, NAMES[op.name]!);
        if (idx.stat(to)) return;
        idx.move(e.path, to);
        return;
      }
      case "resolve": {
        const c = pick(idx.conflicts(), op.file);
        if (!c) return;
        // A directory holding the name (files created apart beside it) keeps it.
        const dir = idx.stat(c.path)?.kind === "dir";
        if (op.how === 0)
          idx.resolveConflict(c.path, { keep: dir ? c.winner : c.copies[0]!.version });
        else if (op.how === 1 || dir) idx.resolveConflict(c.path, { keepBoth: true });
        else {
          const tag = this.nextContent++;
          this.written.add(fakeManifest(tag).contentHash);
          idx.resolveConflict(c.path, { merged: { manifest: fakeManifest(tag) } });
        }
        return;
      }
      case "bulk": {
        // Many files in one batch: enough to split this device's buckets.
        const dir = `bulk-${this.nextContent}`;
        idx.batch(() => {
          for (let i = 0; i < op.count; i++) this.write(idx, `${dir}/f${i}`);
        });
        return;
      }
      case "restore": {
        const f = pick(files, op.file);
        const h = f && idx.history(f.path)[0];
        if (f && h) idx.restore(f.path, `${h.device}:${h.vv.get(h.device)}`);
        return;
      }
    }
  }

  private write(idx: FolderIndex, path: string): void {
    const tag = this.nextContent++;
    this.written.add(fakeManifest(tag).contentHash);
    idx.writeFile(path, { manifest: fakeManifest(tag) });
  }

  /** Brings `to` up to date with `from` the way a real peer would: state vector, then delta. */
  sync(from: number, to: number): void {
    const a = this.replicas[from]!;
    const b = this.replicas[to]!;
    b.applyDelta(a.encodeDelta(b.stateVector()));
  }

  /** Heals every partition and exchanges state until every replica has seen everything. */
  settle(): void {
    this.group = this.group.map(() => 0);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < this.replicas.length; i++) {
        for (let j = 0; j < this.replicas.length; j++) if (i !== j) this.sync(i, j);
      }
    }
  }
}

/** A comparable description of a replica's visible tree. */
export function describeTree(idx: FolderIndex): string[] {
  return [...idx.tree().entries.values()]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map(
      (e) =>
        `${e.path} ${e.kind} ${e.fileId} ${e.version.manifest?.contentHash.replace(/^0+/, "") ?? "-"} ${e.conflictVersion ?? ""}${e.resurrected ? " resurrected" : ""}`,
    );
}
