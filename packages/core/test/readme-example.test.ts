/**
 * The README's library example, run as written (between the `example` markers), so the front
 * page stays true: two devices syncing a file and a Yjs document through the in-memory hub.
 */
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { MemoryBlobStore, MemoryStateStore, Replica } from "../src/index.js";
import { MemoryHub } from "../src/testing/index.js";

test("the README example runs: the phone reads the laptop's file and document", async () => {
  // example: begin
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey()); // members get the folder key wrapped, never in the clear
  const hub = new MemoryHub(); // stands in for the relay: same protocol, sees only ciphertext

  async function device(): Promise<Replica> {
    const identity = generateDeviceIdentity();
    hub.addMember(folderId, identity.signPublicKey);
    const replica = await Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(), // SqliteStateStore (@weft/sqlite-store) on a disk
      blobs: new MemoryBlobStore(), // sealed chunks
      connect: () => hub.connect(), // a relay connection, reopened after a drop
      token: hub.tokenFor(identity.deviceId),
      remoteBlobs: hub.blobClient(identity.deviceId),
    });
    replica.start();
    return replica;
  }
  const laptop = await device();
  const phone = await device();

  await laptop.writeFile("notes/plan.md", new TextEncoder().encode("v1"));
  await laptop.move("notes", "archive/notes"); // same file id: history follows the file
  const notes = await laptop.doc("notes"); // a Yjs Y.Doc, sealed and synced the same way
  notes.getText("body").insert(0, "hello from the laptop");
  await laptop.syncOnce(); // resolves when nothing is pending in either direction
  await phone.syncOnce();

  const plan = await phone.readFile("archive/notes/plan.md"); // every chunk verified
  const body = (await phone.doc("notes")).getText("body").toJSON();
  console.log(phone.list()); // [{ path: "archive", kind: "dir", … }, …, { path: "archive/notes/plan.md", … }]
  // example: end

  expect(new TextDecoder().decode(plan)).toBe("v1");
  expect(body).toBe("hello from the laptop");
  expect(phone.list()).toEqual(laptop.list());
  expect(phone.list().map((e) => e.path)).toEqual([
    "archive",
    "archive/notes",
    "archive/notes/plan.md",
  ]);
  await laptop.close();
  await phone.close();
  hub.close();
});

test("the README shows exactly the code above", () => {
  const source = readFileSync(new URL(import.meta.url), "utf8");
  const body = source.slice(
    source.indexOf("// example: begin\n") + 18,
    source.indexOf("  // example: end"),
  );
  const dedented = body.replace(/^ {2}/gm, "").trim();
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  expect(readme).toContain(dedented);
});
