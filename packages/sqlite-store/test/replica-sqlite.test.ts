// A Replica keeps its state in SQLite: after the process is gone, a new Replica on the same
// database file resumes unsent changes and the log where it stopped.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { MemoryBlobStore, Replica, type ReplicaOptions } from "@weft/core";
import { MemoryHub } from "@weft/core/testing";
import { afterEach, expect, test } from "vitest";
import { SqliteStateStore } from "../src/sqlite-state-store.js";

let dir: string | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

test("a replica reopened on its SQLite file sends what it wrote offline and catches up", async () => {
  await ready();
  dir = await mkdtemp(join(tmpdir(), "weft-replica-sqlite-"));
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const hub = new MemoryHub({ seed: 8 });
  cleanups.push(() => Promise.resolve(hub.close()));
  const laptop = generateDeviceIdentity();
  const phone = generateDeviceIdentity();
  for (const d of [laptop, phone]) hub.addMember(folderId, d.signPublicKey);
  const blobs = new MemoryBlobStore(); // the laptop's chunks survive the restart with the state
  const options = (identity: typeof laptop, state: ReplicaOptions["state"]): ReplicaOptions => ({
    identity,
    folderId,
    keyring,
    state,
    blobs: identity === laptop ? blobs : new MemoryBlobStore(),
    connect: () => hub.connect(),
    token: hub.tokenFor(identity.deviceId),
    remoteBlobs: hub.blobClient(identity.deviceId),
  });

  // The laptop writes while offline, then its process ends without a chance to send.
  const path = join(dir, "laptop.db");
  const store1 = await SqliteStateStore.open(path);
  const first = await Replica.open(options(laptop, store1));
  await first.writeFile("report.txt", new TextEncoder().encode("written offline"));
  await first.doc("notes").then((d) => d.getText("t").insert(0, "draft"));
  await first.close();
  await store1.close();

  // The phone writes meanwhile.
  const phoneReplica = await Replica.open(
    options(phone, await SqliteStateStore.open(join(dir, "phone.db"))),
  );
  cleanups.push(() => phoneReplica.close());
  phoneReplica.start();
  await phoneReplica.writeFile("photo.txt", new TextEncoder().encode("from the phone"));
  await phoneReplica.syncOnce();

  // A new laptop process on the same file.
  const store2 = await SqliteStateStore.open(path);
  cleanups.push(() => store2.close());
  const second = await Replica.open(options(laptop, store2));
  cleanups.push(() => second.close());
  expect(second.list().map((e) => e.path)).toEqual(["report.txt"]);
  expect(second.stats().pendingOut).toBeGreaterThan(0); // the unsent changes were stored
  second.start();
  for (let i = 0; i < 2; i++) await Promise.all([second.syncOnce(), phoneReplica.syncOnce()]);
  expect(phoneReplica.list()).toEqual(second.list());
  expect(second.list().map((e) => e.path)).toEqual(["photo.txt", "report.txt"]);
  expect(new TextDecoder().decode(await phoneReplica.readFile("report.txt"))).toBe(
    "written offline",
  );
  expect((await phoneReplica.doc("notes")).getText("t").toJSON()).toBe("draft");
});
