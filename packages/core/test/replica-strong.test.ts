/**
 * A strong-consistency folder over the in-memory hub: concurrent writes to one file give one
 * accepted write and one reported refusal, never a conflict copy; offline writes queue and are
 * checked when the device returns; a refused write can be re-applied on top of the new head.
 */
import { afterEach, describe, expect, test } from "vitest";
import { CHANGED_ELSEWHERE, type RefusedWrite } from "../src/index.js";
import { type TestNetwork, createTestNetwork } from "../src/testing/index.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const read = async (net: TestNetwork, i: number, path: string): Promise<string> =>
  new TextDecoder().decode(await net.replicas[i]!.readFile(path));

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

describe("strong consistency", () => {
  test("two devices edit one file apart: one write is accepted, the other refused and kept, no conflict copy", async () => {
    net = await createTestNetwork({ devices: 2, seed: 7, replica: { consistency: "strong" } });
    const a = net.replicas[0]!;
    const b = net.replicas[1]!;
    await a.writeFile("notes.txt", text("v1"));
    await net.settle();
    expect(await read(net, 1, "notes.txt")).toBe("v1");

    net.partition([0], [1]);
    await a.writeFile("notes.txt", text("from A"));
    await b.writeFile("notes.txt", text("from B (offline)"));
    await net.settle();
    const refusals: RefusedWrite[] = [];
    b.on("refused", (r) => refusals.push(r));
    net.heal();
    await net.settle();

    for (const r of net.replicas) {
      expect(r.conflicts()).toEqual([]);
      expect(r.list().map((e) => e.path)).toEqual(["notes.txt"]);
    }
    expect(await read(net, 0, "notes.txt")).toBe("from A");
    expect(await read(net, 1, "notes.txt")).toBe("from A");
    const refused = b.refusedWrites();
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ path: "notes.txt", reason: CHANGED_ELSEWHERE });
    expect(a.refusedWrites()).toEqual([]);
    expect(refusals.map((r) => r.id)).toEqual([refused[0]!.id]);

    // Re-applied on top of the new head: accepted, A's version in its history.
    await b.reapply(refused[0]!.id);
    await net.settle();
    expect(b.refusedWrites()).toEqual([]);
    expect(await read(net, 0, "notes.txt")).toBe("from B (offline)");
    expect(a.conflicts()).toEqual([]);
    expect(a.history("notes.txt").length).toBeGreaterThanOrEqual(2);
  });

  test("offline: saves of one file chain, a new file at a place another device took is refused, queued writes survive a crash", async () => {
    net = await createTestNetwork({ devices: 2, seed: 11, replica: { consistency: "strong" } });
    net.partition([0], [1]);
    await net.replicas[1]!.writeFile("draft.md", text("one"));
    await net.replicas[1]!.writeFile("draft.md", text("two"));
    await net.replicas[1]!.writeFile("draft.md", text("three"));
    await net.replicas[1]!.writeFile("shared/plan.txt", text("B's plan"));
    await net.replicas[0]!.writeFile("shared/plan.txt", text("A's plan"));
    await net.settle();
    const b = await net.crash(1); // the queue is in the state store
    expect(b.queuedWrites().sort()).toEqual([
      "draft.md",
      "draft.md",
      "draft.md",
      "shared/plan.txt",
    ]);
    net.heal();
    await net.settle();
    for (const r of net.replicas) {
      expect(r.conflicts()).toEqual([]);
      expect(r.list().map((e) => e.path)).toEqual(["draft.md", "shared", "shared/plan.txt"]);
    }
    expect(await read(net, 0, "draft.md")).toBe("three");
    expect(await read(net, 0, "shared/plan.txt")).toBe("A's plan");
    expect(b.refusedWrites().map((r) => [r.path, r.reason])).toEqual([
      ["shared/plan.txt", CHANGED_ELSEWHERE],
    ]);
    expect(b.queuedWrites()).toEqual([]);
  });

  test("writes queued offline go up several to an envelope; one made from a replaced version is refused alone", async () => {
    net = await createTestNetwork({ devices: 2, seed: 5, replica: { consistency: "strong" } });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await a.writeFile("notes.txt", text("v1"));
    await net.settle();
    net.partition([0], [1]);
    await a.writeFile("notes.txt", text("v2 by A"));
    for (let i = 0; i < 10; i++) {
      if (i === 0) await b.writeFile("notes.txt", text("B's edit of v1"));
      await b.writeFile(`many/f${i}.txt`, text(`file ${i}`));
    }
    await net.settle();
    const before = net.hub.log(net.folderId).length;
    net.heal();
    await net.settle();
    // One envelope per write would be 10 entries (the refused one stores none).
    expect(net.hub.log(net.folderId).length - before).toBeLessThanOrEqual(4);
    expect(b.refusedWrites().map((r) => [r.path, r.reason])).toEqual([
      ["notes.txt", CHANGED_ELSEWHERE],
    ]);
    for (const r of net.replicas) {
      expect(r.conflicts()).toEqual([]);
      expect(r.list().filter((e) => e.path.startsWith("many/"))).toHaveLength(10);
    }
    expect(await read(net, 0, "notes.txt")).toBe("v2 by A");
    expect(await read(net, 0, "many/f9.txt")).toBe("file 9");
  });
  test("a directory removed and made again while another device adds a file in it: one change refused, one directory", async () => {
    // Both online, the changes made at once: each is sealed before the other arrives.
    net = await createTestNetwork({ devices: 2, seed: 3, replica: { consistency: "strong" } });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await a.writeFile("dir/sub/old.txt", text("old"));
    await a.writeFile("x.md", text("moved by A"));
    await net.settle();
    // A removes dir, then moves a file to dir/sub/e.md (making dir and sub again); B adds a file
    // at that path in the directory A removed.
    await Promise.all([
      (async () => {
        await a.remove("dir");
        await a.move("x.md", "dir/sub/e.md");
      })(),
      b.writeFile("dir/sub/e.md", text("made by B")),
    ]);
    await net.settle();

    for (const r of net.replicas) {
      expect(r.conflicts()).toEqual([]);
      expect(r.list().filter((e) => e.path === "dir")).toHaveLength(1);
    }
    expect(a.list()).toEqual(b.list());
    // One of the two changes that made dir/sub/e.md was refused and kept, the other shows.
    const refused = [...a.refusedWrites(), ...b.refusedWrites()].map((r) => r.path);
    expect(refused.filter((p) => p === "x.md" || p === "dir/sub/e.md")).toHaveLength(1);
    const shown = await read(net, 0, "dir/sub/e.md");
    expect(shown).toBe(refused.includes("x.md") ? "made by B" : "moved by A");
  });
});
