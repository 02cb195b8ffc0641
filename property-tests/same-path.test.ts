/**
 * The same paths created apart (issue 22): 2–4 replicas each build a tree on their own from a
 * few names and a few shared contents (directories, nested, identical and different files),
 * then meet; then they move, remove, write and resolve around the merged paths while updates
 * cross in random order, and meet again. Every replica shows the same tree with no
 * `name-clash` entry; right after the first meeting the tree is the union of what each had
 * (a path that was a directory anywhere is a directory, a file's content is at its path or in a
 * conflict copy beside it); no content is ever lost.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { FolderIndex } from "@weft/core";
import { propertyParams } from "./config.js";
import { Network, type Op, arbScenario, describeTree } from "./index-harness.js";

const NAMES = ["a", "b", "c.txt"];

/** What one replica builds on its own: paths of up to three levels, files with shared contents. */
const arbLocalTree = fc.array(
  fc.record({
    parts: fc.array(fc.nat(NAMES.length - 1), { minLength: 1, maxLength: 3 }),
    content: fc.option(fc.nat(2), { nil: undefined }), // undefined: a directory
  }),
  { minLength: 1, maxLength: 8 },
);

const arbCase = arbScenario(30).chain((s) =>
  fc.record({
    replicas: fc.constant(s.replicas),
    trees: fc.array(arbLocalTree, { minLength: s.replicas, maxLength: s.replicas }),
    // After the first meeting: anything, including moves and removes around the merged paths.
    later: fc.constant<Op[]>(s.ops),
  }),
);

const manifestOf = (content: number) => {
  const hex = (2_000_000 + content).toString(16).padStart(64, "0");
  return { chunks: [{ id: hex as never, size: 3 }], size: 3, contentHash: hex };
};

/** Builds one replica's local tree; returns what it holds: path → content hash or "dir". */
function build(
  idx: FolderIndex,
  items: { parts: number[]; content?: number }[],
): Map<string, string> {
  for (const { parts, content } of items) {
    const path = parts.map((p) => NAMES[p]).join("/");
    try {
      if (content === undefined) idx.mkdir(path);
      else idx.writeFile(path, { manifest: manifestOf(content) });
    } catch {
      // A path whose parent is a file here, or a file where a directory is: not creatable.
    }
  }
  const held = new Map<string, string>();
  for (const e of idx.tree().entries.values())
    held.set(e.path, e.kind === "dir" ? "dir" : e.version.manifest!.contentHash);
  return held;
}

describe("the same paths created apart", () => {
  test("meet as one tree: directories merged, identical files one, different files a conflict", () => {
    fc.assert(
      fc.property(arbCase, ({ replicas, trees, later }) => {
        const net = new Network(replicas);
        const held = trees.map((items, i) => build(net.replicas[i]!, items));
        for (const h of held) for (const c of h.values()) if (c !== "dir") net.written.add(c);
        net.settle();

        const first = net.replicas[0]!;
        const expected = describeTree(first);
        for (const r of net.replicas) expect(describeTree(r)).toEqual(expected);
        const tree = first.tree();
        for (const e of tree.entries.values()) expect(e.name).not.toContain("name-clash");
        for (const h of held) {
          for (const [path, content] of h) {
            const e = tree.entries.get(path);
            expect(e, `${path} is missing`).toBeDefined();
            if (content === "dir") {
              expect(e!.kind).toBe("dir");
              continue;
            }
            // At its path, or a conflict copy of that path with this content.
            const shown =
              e!.version.manifest?.contentHash === content ||
              [...tree.entries.values()].some(
                (c) => c.conflictOf === path && c.version.manifest?.contentHash === content,
              );
            expect(shown, `content of ${path} is neither there nor a copy beside it`).toBe(true);
          }
        }
        // Identical files are one entry: no copy shows the content of the file it sits beside.
        for (const c of tree.entries.values()) {
          if (c.conflictOf === undefined) continue;
          const main = tree.entries.get(c.conflictOf)!;
          if (main.kind === "file")
            expect(c.version.manifest?.contentHash).not.toBe(main.version.manifest?.contentHash);
        }
        // Every copy is listed by conflicts().
        const listed = first.conflicts().flatMap((i) => i.copies.map((k) => k.path));
        const shownCopies = [...tree.entries.values()].filter((e) => e.conflictOf !== undefined);
        expect(listed.sort()).toEqual(shownCopies.map((e) => e.path).sort());

        for (const op of later) net.run(op);
        net.settle();
        const end = describeTree(net.replicas[0]!);
        for (const r of net.replicas) expect(describeTree(r)).toEqual(end);
        const fresh = FolderIndex.load(net.replicas[0]!.snapshot(), { device: "FRESH" as never });
        expect(describeTree(fresh)).toEqual(end);
        net.run({ t: "check", r: replicas - 1 });
        for (const r of net.replicas) {
          const t = r.tree();
          expect(t.orphans).toEqual([]);
          const reachable = new Set<string>();
          for (const e of t.entries.values()) {
            expect(e.name).not.toContain("name-clash");
            if (e.version.manifest) reachable.add(e.version.manifest.contentHash);
          }
          for (const id of r.fileIds())
            for (const h of r.historyOf(id)) if (h.manifest) reachable.add(h.manifest.contentHash);
          for (const hash of net.written)
            expect(reachable.has(hash), `content ${hash.replace(/^0+/, "")} is lost`).toBe(true);
        }
      }),
      propertyParams(),
    );
  });
});
