// Documents through real Replicas over the in-memory hub: Yjs, Automerge, awareness, the
// y-websocket-shaped provider, persistence across a crash, snapshots for a late joiner.
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { WeftProvider } from "../src/docs/provider.js";
import {
  createTestNetwork,
  type TestNetwork,
  type TestNetworkOptions,
} from "../src/testing/index.js";

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

async function network(options: TestNetworkOptions): Promise<TestNetwork> {
  net = await createTestNetwork(options);
  return net;
}

/** Resolves once `check()` holds, re-checking on every change of the doc or awareness. */
function until(check: () => boolean, on: (f: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    if (check()) return resolve();
    const off = on(() => {
      if (check()) {
        off();
        resolve();
      }
    });
  });
}

describe("Replica documents", () => {
  it("an update that arrives while a device opens the document reaches the open document", async () => {
    // Device 1's load of the document's stored updates is slow: it reads, then waits. An
    // update from device 0 that arrives and is stored meanwhile (before the lane fix: applied
    // with no document open to hear it, after the load had read) must still reach the doc.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let storedUpdate!: () => void;
    const stored = new Promise<void>((resolve) => (storedUpdate = resolve));
    const isStream = (key: readonly string[]): boolean => key.includes("yjs:notes");
    const { replicas, settle } = await network({
      devices: 2,
      seed: 4,
      wrapState: (device, store) =>
        device !== 1
          ? store
          : Object.assign(Object.create(store) as typeof store, {
              loadRange: async (prefix: readonly string[]) => {
                const entries = await store.loadRange(prefix);
                if (isStream(prefix)) await gate;
                return entries;
              },
              transaction: async (ops: Parameters<typeof store.transaction>[0]) => {
                await store.transaction(ops);
                if (ops.some((op) => "key" in op && isStream(op.key))) storedUpdate();
              },
            }),
    });
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const opening = b.doc("notes");
    (await a.doc("notes")).getText("body").insert(0, "from a");
    await a.syncOnce();
    // Stored on b, or b waits for the load to end before it applies: either way, let it go on.
    await Promise.race([stored, new Promise((resolve) => setTimeout(resolve, 500))]);
    release();
    const doc = await opening;
    await settle();
    expect(doc.getText("body").toJSON()).toBe("from a");
  });

  it("a Yjs document converges across three devices with concurrent edits", async () => {
    const { replicas, settle, partition, heal } = await network({ devices: 3, seed: 2 });
    const docs = await Promise.all(replicas.map((r) => r.doc("notes")));
    docs[0]!.getText("body").insert(0, "hello");
    await settle();
    expect(docs[2]!.getText("body").toJSON()).toBe("hello");
    partition([0], [1, 2]);
    docs[0]!.getText("body").insert(5, " from a");
    docs[1]!.getText("body").insert(0, "b says: ");
    docs[2]!.getMap("meta").set("title", "Notes");
    heal();
    await settle();
    const texts = docs.map((d) => d.getText("body").toJSON());
    expect(new Set(texts).size).toBe(1);
    expect(texts[0]).toContain("hello from a");
    expect(texts[0]).toContain("b says: ");
    expect(docs[0]!.getMap("meta").get("title")).toBe("Notes");
    expect(await replicas[0]!.doc("notes")).toBe(docs[0]); // one Y.Doc per name
  });

  it("an Automerge document converges, and concurrent list pushes keep both", async () => {
    const { replicas, settle, partition, heal } = await network({ devices: 2 });
    type Todo = { items: string[] };
    const a = await replicas[0]!.automerge<Todo>("todo", (d) => {
      d.items = [];
    });
    await a.change((d) => {
      d.items.push("milk");
    });
    await settle();
    const b = await replicas[1]!.automerge<Todo>("todo");
    expect(b.doc().items).toEqual(["milk"]);
    partition([0], [1]);
    await a.change((d) => {
      d.items.push("eggs");
    });
    await b.change((d) => {
      d.items.push("bread");
    });
    heal();
    await settle();
    expect([...a.doc().items].sort()).toEqual(["bread", "eggs", "milk"]);
    expect([...b.doc().items]).toEqual([...a.doc().items]);
  });

  it("awareness states reach the other device and are sealed on the way", async () => {
    const { replicas, settle } = await network({ devices: 2 });
    const [aw0, aw1] = await Promise.all(replicas.map((r) => r.awareness("notes")));
    await settle();
    aw0!.setLocalStateField("user", { name: "Ada", cursor: 3 });
    await until(
      () =>
        (aw1!.getStates().get(aw0!.clientID) as { user?: { name: string } } | undefined)?.user
          ?.name === "Ada",
      (f) => {
        aw1!.on("change", f);
        return () => aw1!.off("change", f);
      },
    );
    expect(aw1!.getStates().get(aw0!.clientID)).toEqual({ user: { name: "Ada", cursor: 3 } });
  });

  it("an ephemeral message sent while connecting is dropped, not sent before auth", async () => {
    const { replicas, settle } = await network({ devices: 2 });
    const replica = replicas[0]!;
    const channel = await replica.openDocChannel("notes", "yjs");
    const errors: string[] = [];
    replica.on("error", ({ error }) => errors.push(error.message));
    replica.stop();
    // The connection exists from "connecting" on, before it has authenticated.
    channel.on("status", ({ status }) => {
      if (status === "connecting") queueMicrotask(() => channel.publishEphemeral(Uint8Array.of(1)));
    });
    replica.start();
    await settle();
    // (stop() itself reports the connection it closed.)
    expect(errors.filter((m) => m !== "connection closed")).toEqual([]);
    expect(replica.status).toBe("online");
  });

  it("documents survive a crash and reach a device that joins late through the snapshot", async () => {
    const { replicas, settle, crash, partition, heal } = await network({
      devices: 3,
      replica: { snapshotEvery: 3 },
    });
    partition([0, 1], [2]);
    const doc = await replicas[0]!.doc("wiki");
    for (let i = 0; i < 6; i++) {
      doc.getArray<string>("pages").push([`page ${i}`]);
      await settle();
    }
    const reopened = await crash(0);
    expect((await reopened.doc("wiki")).getArray("pages").length).toBe(6);
    heal();
    await settle();
    const late = await replicas[2]!.doc("wiki");
    expect(late.getArray("pages").toArray()).toEqual([
      "page 0",
      "page 1",
      "page 2",
      "page 3",
      "page 4",
      "page 5",
    ]);
    expect(replicas[2]!.stats().snapshotsLoaded).toBe(1);
  });

  it("WeftProvider: an app written for y-websocket syncs through a Replica", async () => {
    const { replicas, settle } = await network({ devices: 2 });
    const docA = new Y.Doc();
    const docB = new Y.Doc();
    const providerA = new WeftProvider(replicas[0]!, "room-1", docA);
    const providerB = new WeftProvider(replicas[1]!, "room-1", docB);
    const statuses: string[] = [];
    providerB.on("status", (e) => statuses.push(e.status));
    docA.getText("t").insert(0, "typed in A");
    await settle();
    await until(
      () => providerB.synced,
      (f) => {
        providerB.on("sync", f);
        return () => providerB.off("sync", f);
      },
    );
    expect(docB.getText("t").toJSON()).toBe("typed in A");
    expect(statuses).toContain("connected");
    providerA.destroy();
    providerB.destroy();
  });
});
