// The Yjs and Automerge bindings against a fake hub of document channels (test/helpers).
import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { WeftError } from "../src/errors.js";
import { openAutomergeDoc, type AutomergeDocHandle } from "../src/docs/automerge-doc.js";
import { WeftProvider } from "../src/docs/provider.js";
import { bindYDoc, MAX_EPHEMERAL_BYTES } from "../src/docs/yjs-doc.js";
import { MemoryDocHub } from "./helpers/memory-doc-channels.js";

const textOf = (doc: Y.Doc): string => doc.getText("t").toJSON();
const mapOf = (doc: Y.Doc): Record<string, unknown> => doc.getMap("m").toJSON();
const collect = (): { errors: WeftError[]; onError: (e: WeftError) => void } => {
  const errors: WeftError[] = [];
  return { errors, onError: (e) => errors.push(e) };
};

describe("bindYDoc", () => {
  it("converges on concurrent text and map edits", async () => {
    const hub = new MemoryDocHub();
    const a = bindYDoc(hub.open("A", "notes"));
    const b = bindYDoc(hub.open("B", "notes"));
    a.doc.getText("t").insert(0, "hello");
    b.doc.getText("t").insert(0, "world");
    a.doc.getMap("m").set("x", 1);
    b.doc.getMap("m").set("x", 2);
    b.doc.getMap("m").set("y", "b");
    await hub.settle();
    expect(textOf(a.doc)).toBe(textOf(b.doc));
    expect(textOf(a.doc)).toHaveLength(10);
    expect(mapOf(a.doc)).toEqual(mapOf(b.doc));
    expect(mapOf(a.doc)["y"]).toBe("b");
    a.doc.getText("t").delete(0, 3);
    await hub.settle();
    expect(textOf(b.doc)).toBe(textOf(a.doc));
    expect(textOf(b.doc)).toHaveLength(7);
    a.destroy();
    b.destroy();
  });

  it("converges under reordered and duplicated delivery", async () => {
    for (const seed of [1, 2, 3, 4]) {
      const hub = new MemoryDocHub({ shuffle: true, duplicate: 0.5, seed });
      const docs = ["A", "B", "C"].map((d) => bindYDoc(hub.open(d, "notes")));
      let n = 0;
      for (let round = 0; round < 5; round++) {
        for (const { doc } of docs) {
          // Several transactions per device per round, delivered in random order.
          for (let i = 0; i < 4; i++) {
            const t = doc.getText("t");
            t.insert((n * 7) % (t.length + 1), String.fromCharCode(97 + (n++ % 26)));
            if (t.length > 5 && n % 3 === 0) t.delete(n % t.length, 1);
            doc.getMap("m").set(`k${n % 5}`, n);
          }
        }
        if (round % 2 === 1) await hub.settle();
      }
      await hub.settle();
      const [first, ...rest] = docs.map(({ doc }) => [textOf(doc), mapOf(doc)]);
      for (const other of rest) expect(other).toEqual(first);
      for (const d of docs) d.destroy();
    }
  });

  it("restores a reopened channel from initial without re-publishing it", async () => {
    const hub = new MemoryDocHub();
    const channelA = hub.open("A", "notes");
    const a = bindYDoc(channelA);
    const b = bindYDoc(hub.open("B", "notes"));
    a.doc.getText("t").insert(0, "from a ");
    b.doc.getText("t").insert(0, "from b ");
    await hub.settle();
    const expected = textOf(a.doc);
    a.destroy();
    expect(channelA.isClosed).toBe(true);

    const reopened = hub.open("A", "notes");
    expect(reopened.initial.length).toBeGreaterThan(1); // own publish + received
    const again = bindYDoc(reopened);
    expect(textOf(again.doc)).toBe(expected);
    expect(reopened.published).toHaveLength(0);
    // Binding the same (already complete) doc again publishes nothing either.
    again.destroy();
    const thirdChannel = hub.open("A", "notes");
    const third = bindYDoc(thirdChannel, again.doc);
    expect(thirdChannel.published).toHaveLength(0);
    third.destroy();
    b.destroy();
  });

  it("hands the channel a state provider that compacts losslessly", async () => {
    const hub = new MemoryDocHub();
    const a = bindYDoc(hub.open("A", "notes"));
    const b = bindYDoc(hub.open("B", "notes"));
    for (let i = 0; i < 20; i++) (i % 2 ? a : b).doc.getText("t").insert(0, String(i % 10));
    await hub.settle();
    hub.compact("A", "notes");
    expect(hub.stored("A", "notes")).toHaveLength(1);
    a.destroy();
    const again = bindYDoc(hub.open("A", "notes"));
    expect(textOf(again.doc)).toBe(textOf(b.doc));
    again.destroy();
    b.destroy();
  });

  it("publishes what a doc held before binding, and only that", async () => {
    const hub = new MemoryDocHub();
    const b = bindYDoc(hub.open("B", "notes"));
    b.doc.getText("t").insert(0, "stored ");
    await hub.settle();
    const doc = new Y.Doc();
    doc.getText("t").insert(0, "offline ");
    const channel = hub.open("A", "notes");
    const a = bindYDoc(channel, doc);
    expect(channel.published).toHaveLength(1);
    // The published update holds A's content and none of the stored one.
    const probe = new Y.Doc();
    Y.applyUpdate(probe, channel.published[0] ?? new Uint8Array());
    expect(textOf(probe)).toBe("offline ");
    await hub.settle();
    expect(textOf(b.doc)).toBe(textOf(a.doc));
    expect(textOf(b.doc)).toContain("offline");
    a.destroy();
    b.destroy();
  });

  it("reports a failed publish and re-sends it with the next update", async () => {
    const hub = new MemoryDocHub();
    const { errors, onError } = collect();
    const a = bindYDoc(hub.open("A", "notes"), new Y.Doc(), { onError });
    const b = bindYDoc(hub.open("B", "notes"));
    hub.failNextPublishes("A", 1);
    a.doc.getText("t").insert(0, "lost?");
    await hub.settle();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe("STORAGE");
    expect(a.lastError).toBe(errors[0]);
    expect(textOf(b.doc)).toBe("");
    a.doc.getText("t").insert(5, " no");
    await hub.settle();
    expect(textOf(b.doc)).toBe("lost? no");
    a.destroy();
    b.destroy();
  });

  it("reports a corrupt remote update instead of throwing into the channel", async () => {
    const hub = new MemoryDocHub();
    const { errors, onError } = collect();
    const a = bindYDoc(hub.open("A", "notes"), new Y.Doc(), { onError });
    const raw = hub.open("B", "notes");
    await raw.publish(new Uint8Array([255, 255, 255, 255, 1]));
    await hub.settle();
    expect(errors.map((e) => e.code)).toEqual(["INVALID_UPDATE"]);
    a.destroy();
    raw.close();
  });

  it("propagates awareness states and their removal on destroy", async () => {
    const hub = new MemoryDocHub();
    const a = bindYDoc(hub.open("A", "notes"));
    const b = bindYDoc(hub.open("B", "notes"));
    await hub.settle();
    a.awareness.setLocalStateField("user", "ann");
    await hub.settle();
    expect(b.awareness.getStates().get(a.doc.clientID)).toEqual({ user: "ann" });
    // A newcomer learns the others' states without them changing anything.
    const c = bindYDoc(hub.open("C", "notes"));
    await hub.settle();
    expect(c.awareness.getStates().get(a.doc.clientID)).toEqual({ user: "ann" });
    expect(c.awareness.getStates().has(b.doc.clientID)).toBe(true);
    expect(a.awareness.getStates().has(c.doc.clientID)).toBe(true);
    a.destroy();
    await hub.settle();
    expect(b.awareness.getStates().has(a.doc.clientID)).toBe(false);
    expect(c.awareness.getStates().has(a.doc.clientID)).toBe(false);
    b.destroy();
    c.destroy();
  });

  it("re-announces awareness after the channel reconnects and forgets peers while offline", async () => {
    const hub = new MemoryDocHub();
    const a = bindYDoc(hub.open("A", "notes"));
    const b = bindYDoc(hub.open("B", "notes"));
    a.awareness.setLocalStateField("cursor", 1);
    await hub.settle();
    hub.setStatus("B", "disconnected");
    expect(b.awareness.getStates().has(a.doc.clientID)).toBe(false);
    a.awareness.setLocalStateField("cursor", 2); // B is offline: dropped
    b.awareness.setLocalStateField("cursor", 9); // dropped too
    await hub.settle();
    hub.setStatus("B", "connected");
    await hub.settle();
    expect(a.awareness.getStates().get(b.doc.clientID)).toEqual({ cursor: 9 });
    expect(b.awareness.getStates().get(a.doc.clientID)).toEqual({ cursor: 2 });
    a.destroy();
    b.destroy();
  });

  it("drops and reports an awareness update over 8 KiB", async () => {
    const hub = new MemoryDocHub();
    const { errors, onError } = collect();
    const a = bindYDoc(hub.open("A", "notes"), new Y.Doc(), { onError });
    const b = bindYDoc(hub.open("B", "notes"));
    await hub.settle();
    a.awareness.setLocalState({ blob: "x".repeat(MAX_EPHEMERAL_BYTES) });
    await hub.settle();
    expect(errors.map((e) => e.code)).toEqual(["INVALID_ARGUMENT"]);
    expect(b.awareness.getStates().get(a.doc.clientID)).toEqual({});
    a.destroy();
    b.destroy();
  });
});

describe("WeftProvider syncing", () => {
  it("delivers edits made while disconnected after connect()", async () => {
    const hub = new MemoryDocHub({ shuffle: true, duplicate: 0.3, seed: 7 });
    const docA = new Y.Doc();
    const docB = new Y.Doc();
    const pa = new WeftProvider(hub.opener("A"), "notes", docA);
    const pb = new WeftProvider(hub.opener("B"), "notes", docB);
    docA.getText("t").insert(0, "one ");
    await hub.settle();
    expect(textOf(docB)).toBe("one ");

    pa.disconnect();
    expect(pa.wsconnected).toBe(false);
    docA.getText("t").insert(4, "offline ");
    docA.getMap("m").set("k", "a");
    docB.getText("t").insert(0, "meanwhile ");
    await hub.settle();
    expect(textOf(docB)).not.toContain("offline");
    expect(textOf(docA)).not.toContain("meanwhile");

    pa.connect();
    await hub.settle();
    expect(pa.wsconnected).toBe(true);
    expect(textOf(docA)).toBe(textOf(docB));
    expect(textOf(docB)).toContain("offline");
    expect(textOf(docA)).toContain("meanwhile");
    expect(mapOf(docB)).toEqual({ k: "a" });
    pa.destroy();
    pb.destroy();
  });

  it("follows the channel's status and synced flag", async () => {
    const hub = new MemoryDocHub();
    const statuses: string[] = [];
    const syncs: boolean[] = [];
    hub.setSynced("A", false);
    const p = new WeftProvider(hub.opener("A"), "notes", new Y.Doc(), { connect: false });
    p.on("status", ({ status }) => statuses.push(status));
    p.on("sync", (s) => syncs.push(s));
    p.connect();
    expect(p.wsconnecting).toBe(true);
    await hub.settle();
    hub.setSynced("A", true);
    hub.setStatus("A", "disconnected");
    hub.setStatus("A", "connecting");
    hub.setStatus("A", "connected");
    p.disconnect();
    expect(statuses).toEqual([
      "connecting",
      "connected",
      "disconnected",
      "connecting",
      "connected",
      "disconnected",
    ]);
    expect(syncs).toEqual([true, false]);
    expect(p.synced).toBe(false);
    p.destroy();
  });

  it("reports a failed open with connection-error and can connect again", async () => {
    const hub = new MemoryDocHub();
    hub.failNextOpens("A", 1);
    const { errors, onError } = collect();
    const p = new WeftProvider(hub.opener("A"), "notes", new Y.Doc(), { onError });
    const seen: unknown[] = [];
    p.on("connection-error", (e) => seen.push(e));
    await hub.settle();
    expect(seen).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(p.shouldConnect).toBe(false);
    expect(p.wsconnected).toBe(false);
    p.connect();
    await hub.settle();
    expect(p.wsconnected).toBe(true);
    p.destroy();
  });

  it("closes a channel that finishes opening after disconnect()", async () => {
    const hub = new MemoryDocHub();
    const p = new WeftProvider(hub.opener("A"), "notes", new Y.Doc());
    p.disconnect(); // before the open resolved
    await hub.settle();
    expect(p.channel).toBeNull();
    expect(p.wsconnected).toBe(false);
    p.destroy();
  });
});

interface Todo {
  items: string[];
  title?: string;
}

describe("openAutomergeDoc", () => {
  const open = (hub: MemoryDocHub, device: string): Promise<AutomergeDocHandle<Todo>> =>
    openAutomergeDoc<Todo>(hub.open(device, "todo", "automerge"));
  /** A hub whose devices exist from the start, so each receives everything published. */
  const hubOf = (options: ConstructorParameters<typeof MemoryDocHub>[0] = {}): MemoryDocHub => {
    const hub = new MemoryDocHub(options);
    hub.device("A");
    hub.device("B");
    return hub;
  };
  const plain = (doc: A.Doc<Todo>): unknown => A.toJS(doc);

  it("converges on concurrent list pushes", async () => {
    const hub = hubOf({ shuffle: true, duplicate: 0.5, seed: 3 });
    const a = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), (d) => {
      d.items = [];
    });
    await hub.settle();
    const b = await open(hub, "B");
    expect(b.doc().items).toEqual([]);
    for (let i = 0; i < 5; i++) {
      await a.change((d) => d.items.push(`a${i}`));
      await b.change((d) => d.items.push(`b${i}`));
    }
    await b.change((d) => {
      d.title = "groceries";
    });
    await hub.settle();
    expect(a.doc().items).toHaveLength(10);
    expect(A.getHeads(a.doc()).sort()).toEqual(A.getHeads(b.doc()).sort());
    expect(plain(a.doc())).toEqual(plain(b.doc()));
    expect(a.doc().title).toBe("groceries");
    a.close();
    b.close();
  });

  it("reloads from initial (incremental or compacted) and runs init only when new", async () => {
    const hub = hubOf();
    let inits = 0;
    const init = (d: Todo): void => {
      inits++;
      d.items = [];
    };
    const a = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), init);
    await a.change((d) => d.items.push("x"), "add x");
    await a.change((d) => d.items.push("y"));
    a.close();
    const again = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), init);
    expect(again.doc().items).toEqual(["x", "y"]);
    expect(inits).toBe(1);
    hub.compact("A", "todo", "automerge");
    expect(hub.stored("A", "todo", "automerge")).toHaveLength(1);
    again.close();
    const third = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), init);
    expect(third.doc().items).toEqual(["x", "y"]);
    expect(inits).toBe(1);
    third.close();
  });

  it("emits change events for local and remote changes, and relays ephemeral bytes", async () => {
    const hub = hubOf();
    const a = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), (d) => {
      d.items = [];
    });
    await hub.settle();
    const b = await open(hub, "B");
    const seenA: boolean[] = [];
    const seenB: { local: boolean; items: string[] }[] = [];
    a.on("change", (e) => seenA.push(e.local));
    const off = b.on("change", (e) => seenB.push({ local: e.local, items: [...e.doc.items] }));
    await a.change((d) => d.items.push("1"));
    await a.change(() => undefined); // changes nothing: no event, no publish
    await hub.settle();
    expect(seenA).toEqual([true]);
    expect(seenB).toEqual([{ local: false, items: ["1"] }]);
    off();
    await b.change((d) => d.items.push("2"));
    await hub.settle();
    expect(seenB).toHaveLength(1);
    expect(seenA).toEqual([true, false]);

    const got: { payload: number[]; from: string }[] = [];
    b.on("ephemeral", (e) => got.push({ payload: [...e.payload], from: e.from }));
    a.sendEphemeral(new Uint8Array([1, 2, 3]));
    await hub.settle();
    expect(got).toEqual([{ payload: [1, 2, 3], from: "A" }]);
    expect(() => a.sendEphemeral(new Uint8Array(MAX_EPHEMERAL_BYTES + 1))).toThrow(/exceeds/);
    a.close();
    b.close();
  });

  it("re-sends a change whose publish failed with the next one", async () => {
    const hub = hubOf();
    const a = await openAutomergeDoc<Todo>(hub.open("A", "todo", "automerge"), (d) => {
      d.items = [];
    });
    await hub.settle();
    const b = await open(hub, "B");
    hub.failNextPublishes("A", 1);
    await expect(a.change((d) => d.items.push("lost?"))).rejects.toThrow();
    await a.change((d) => d.items.push("no"));
    await hub.settle();
    expect(b.doc().items).toEqual(["lost?", "no"]);
    a.close();
    await expect(a.change((d) => d.items.push("closed"))).rejects.toThrow(/closed/);
    b.close();
  });
});
