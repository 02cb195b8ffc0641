// The Replica end to end over the in-memory hub: files, moves, conflicts, history, peers, crashes.
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { versionId } from "../src/index.js";
import { createTestNetwork, type TestNetwork } from "../src/testing/index.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

async function network(devices: number, seed = 1): Promise<TestNetwork> {
  net = await createTestNetwork({ devices, seed });
  return net;
}

describe("Replica over the in-memory hub", () => {
  it("syncs a written file to the other device, bytes verified", async () => {
    const { replicas, settle } = await network(2);
    const [a, b] = replicas as [
      NonNullable<(typeof replicas)[0]>,
      NonNullable<(typeof replicas)[0]>,
    ];
    await a.writeFile("docs/hello.txt", text("hello weft"));
    await settle();
    expect(b.list()).toEqual(a.list());
    expect(b.list().map((e) => e.path)).toEqual(["docs", "docs/hello.txt"]);
    expect(str(await b.readFile("docs/hello.txt"))).toBe("hello weft");
  });

  it("takes content as a stream and gives it back as a stream of verified chunks", async () => {
    net = await createTestNetwork({
      devices: 2,
      replica: { chunking: { minSize: 1024, avgSize: 4096, maxSize: 16384 } },
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
    const blocks = (): Uint8Array[] => [
      data.subarray(0, 70_000),
      data.subarray(70_000, 150_001),
      data.subarray(150_001),
    ];
    await a.writeFile(
      "web.bin",
      new ReadableStream({
        start(c) {
          for (const x of blocks()) c.enqueue(x);
          c.close();
        },
      }),
    );
    await a.writeFile("node.bin", Readable.from(blocks().map((x) => Buffer.from(x))));
    await net.settle();
    for (const name of ["web.bin", "node.bin"]) {
      const parts: Uint8Array[] = [];
      for await (const chunk of b.createReadStream(name)) parts.push(chunk);
      expect(parts.length).toBeGreaterThan(5); // chunk by chunk, not one buffer
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
    }
    expect(a.stat("web.bin")?.contentHash).toBe(a.stat("node.bin")?.contentHash);
  });

  it("moves, removes and restores propagate; history follows the file", async () => {
    const { replicas, settle } = await network(2);
    const [a, b] = replicas as [
      NonNullable<(typeof replicas)[0]>,
      NonNullable<(typeof replicas)[0]>,
    ];
    await a.writeFile("a.txt", text("v1"));
    await a.writeFile("a.txt", text("v2"));
    await settle();
    await b.move("a.txt", "dir/b.txt");
    await settle();
    expect(a.stat("dir/b.txt")?.size).toBe(2);
    expect(a.stat("a.txt")).toBeUndefined();
    const v1 = a.history("dir/b.txt").at(-1)!;
    await a.restore("dir/b.txt", versionId(v1));
    await settle();
    expect(str(await b.readFile("dir/b.txt"))).toBe("v1");
    await b.remove("dir");
    await settle();
    expect(a.list()).toEqual([]);
  });

  it("a deleted file is found by its path and brought back with any of its versions", async () => {
    const { replicas, settle } = await network(2);
    const [a, b] = replicas as [
      NonNullable<(typeof replicas)[0]>,
      NonNullable<(typeof replicas)[0]>,
    ];
    await a.writeFile("docs/a.txt", text("v1"));
    await a.writeFile("docs/a.txt", text("v2"));
    await a.writeFile("docs/keep.txt", text("stays"));
    await settle();
    await b.remove("docs/a.txt");
    await settle();
    expect(a.stat("docs/a.txt")).toBeUndefined();
    expect(a.deleted("docs/keep.txt")).toEqual([]);
    const [gone] = a.deleted("docs/a.txt");
    expect(gone!.history.map((v) => v.manifest!.size)).toEqual([2, 2]);
    const v1 = gone!.history.at(-1)!;
    await a.undelete(gone!.fileId, versionId(v1));
    await settle();
    expect(str(await b.readFile("docs/a.txt"))).toBe("v1");
    expect(b.deleted("docs/a.txt")).toEqual([]);
  });

  it("keeps both sides of a concurrent edit: one winner, one conflict copy, the same on both", async () => {
    const { replicas, settle, partition, heal } = await network(2, 7);
    const [a, b] = replicas as [
      NonNullable<(typeof replicas)[0]>,
      NonNullable<(typeof replicas)[0]>,
    ];
    await a.writeFile("note.md", text("base"));
    await settle();
    partition([0], [1]);
    await a.writeFile("note.md", text("from a"));
    await b.writeFile("note.md", text("from b"));
    heal();
    await settle();
    expect(a.list()).toEqual(b.list());
    const files = a.list().filter((e) => e.kind === "file");
    expect(files).toHaveLength(2);
    const contents = (await Promise.all(files.map((f) => a.readFile(f.path)))).map(str).sort();
    expect(contents).toEqual(["from a", "from b"]);
    expect(a.conflicts()).toHaveLength(1);
    await a.resolveConflict("note.md", { merged: text("merged") });
    await settle();
    expect(b.conflicts()).toHaveLength(0);
    expect(str(await b.readFile("note.md"))).toBe("merged");
  });

  it("a crashed replica reopens from its store and catches up; nothing is lost", async () => {
    const { replicas, settle, crash } = await network(2, 3);
    const a = replicas[0]!;
    await a.writeFile("one.bin", new Uint8Array(300_000).fill(1));
    await a.writeFile("two.txt", text("two"));
    const a2 = await crash(0); // before anything was necessarily sent
    await settle();
    const b = replicas[1]!;
    expect(b.list()).toEqual(a2.list());
    expect(b.list().map((e) => e.path)).toEqual(["one.bin", "two.txt"]);
    expect((await b.readFile("one.bin")).every((x) => x === 1)).toBe(true);
  });

  it("applies one device's log entries in order even when the hub delivers them out of order", async () => {
    net = await createTestNetwork({ devices: 2, seed: 6, reorderRate: 1 });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();
    const errors: string[] = [];
    b.on("error", (e) => errors.push(e.error.message));
    for (let v = 1; v <= 4; v++) {
      await a.writeFile("f.txt", text(`v${v}`)); // each chains onto the one before
      // One envelope each: wait until the hub has stored it (syncOnce would wait for the
      // pushes the hub holds back). The hub pushes them to b in the order 2, 1, 4, 3.
      while (a.stats().pendingOut > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await net.settle();
    expect(str(await b.readFile("f.txt"))).toBe("v4");
    expect(b.list()).toEqual(a.list());
    expect(errors).toEqual([]);
  });

  it("reports peers with presence and how far behind they are", async () => {
    const { replicas, settle, partition, heal } = await network(2);
    const [a, b] = replicas as [
      NonNullable<(typeof replicas)[0]>,
      NonNullable<(typeof replicas)[0]>,
    ];
    await a.writeFile("x", text("x"));
    await settle();
    expect(a.peers()).toEqual([
      expect.objectContaining({ deviceId: b.deviceId, online: true, behind: 0 }),
    ]);
    partition([0], [1]);
    await a.writeFile("y", text("y"));
    await a.writeFile("z", text("z"));
    await settle();
    const peer = a.peers()[0]!;
    expect(peer.online).toBe(false);
    expect(peer.behind).toBeGreaterThanOrEqual(1);
    heal();
    await settle();
    expect(a.peers()[0]).toEqual(expect.objectContaining({ online: true, behind: 0 }));
  });

  it("the hub holds only ciphertext: no name and no content appears in its log or blobs", async () => {
    const { replicas, settle, hub, folderId } = await network(2);
    const secretName = "tax-return-2026-SECRET.pdf";
    const secretBody = "the quick brown fox keeps a SECRET ".repeat(200);
    await replicas[0]!.writeFile(secretName, text(secretBody));
    await settle();
    const chunkIds = replicas[0]!.index.stat(secretName)!.version.manifest!.chunks.map((c) => c.id);
    const blobs = await Promise.all(chunkIds.map((id) => hub.blobs.get(id)));
    expect(blobs.every((b) => b !== undefined)).toBe(true);
    const haystacks = [...hub.log(folderId).map((e) => e.envelope), ...(blobs as Uint8Array[])];
    const needles = [text("SECRET"), text("tax-return")];
    for (const hay of haystacks)
      for (const needle of needles) expect(indexOf(hay, needle)).toBe(-1);
    expect(hub.log(folderId).length).toBeGreaterThan(0);
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
