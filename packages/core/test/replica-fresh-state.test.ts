// A device that writes a folder from more than one state over time (a state thrown away after
// each use, as `weft put --no-state` does): with `clockDeviceSeq`, each state's envelopes are
// numbered above every earlier one's, so the relay takes them all, and a fresh state that caught
// up first knows what the earlier ones wrote.
import { type DeviceIdentity } from "@weft/crypto";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBlobStore, MemoryStateStore, Replica } from "../src/index.js";
import type { MemoryHub } from "../src/testing/index.js";
import { hubFolder, syncOnHub } from "./helpers/hub-folder.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let hub: MemoryHub | undefined;
afterEach(() => {
  hub?.close();
  hub = undefined;
});

describe("a device writing from a fresh state each time", () => {
  async function setup() {
    const folder = await hubFolder(7);
    hub = folder.hub;
    const { hub: h, folderId, keyring, writer, reader } = folder;
    const refused: string[] = [];
    /** Opens a replica on a new, empty state (nothing of an earlier one carried over). */
    const fresh = async (identity: DeviceIdentity, clockDeviceSeq: boolean) => {
      const replica = await Replica.open({
        identity,
        folderId,
        keyring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        connect: () => h.connect(),
        token: h.tokenFor(identity.deviceId),
        remoteBlobs: h.blobClient(identity.deviceId),
        reconnectDelayMs: { min: 5, max: 50 },
        clockDeviceSeq,
      });
      replica.on("error", ({ context }) => refused.push(context));
      return replica;
    };
    /** Syncs `replica` to idle, delivering the hub's frames meanwhile. */
    const sync = (r: Replica): Promise<void> => syncOnHub(h, r);
    /** One run of the writer: a fresh state, caught up, one file written, synced, closed. */
    const run = async (clockDeviceSeq: boolean, path: string): Promise<string[]> => {
      const r = await fresh(writer, clockDeviceSeq);
      await sync(r);
      const before = r.list().map((e) => e.path);
      await r.writeFile(path, text(path));
      await sync(r);
      await r.close();
      return before;
    };
    const readerSees = async (): Promise<string[]> => {
      const r = await fresh(reader, false);
      await sync(r);
      const paths = r.list().map((e) => e.path);
      await r.close();
      return paths;
    };
    return { run, readerSees, refused };
  }

  it("numbers envelopes from the clock: every run's write is taken, and each run sees the earlier ones", async () => {
    const { run, readerSees, refused } = await setup();
    expect(await run(true, "one.txt")).toEqual([]);
    expect(await run(true, "two.txt")).toEqual(["one.txt"]);
    expect(await run(true, "three.txt")).toEqual(["one.txt", "two.txt"]);
    expect(refused).toEqual([]);
    expect(await readerSees()).toEqual(["one.txt", "three.txt", "two.txt"]);
  });

  it("without it, the second fresh state's envelope is refused as a reused deviceSeq", async () => {
    const { run, readerSees, refused } = await setup();
    await run(false, "one.txt");
    await run(false, "two.txt");
    expect(refused.some((c) => c.startsWith("the relay refused envelope"))).toBe(true);
    expect(await readerSees()).toEqual(["one.txt"]);
  });
});
