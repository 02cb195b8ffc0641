#!/usr/bin/env node
// Two replicas of one folder, a laptop and a phone, syncing a file and a Yjs document through
// the in-memory hub (which speaks the relay's protocol and only ever holds ciphertext). They
// edit the same file while apart, meet again, and resolve the conflict.
//
//   npm run build && node examples/hub-quickstart/index.mjs
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import { MemoryHub } from "@weft/core/testing";
import { TextDecoder, TextEncoder } from "node:util";
import { fileURLToPath } from "node:url";

const text = (s) => new TextEncoder().encode(s);
const str = (b) => new TextDecoder().decode(b);

/** Runs the walk-through; `log` receives each line of the story. Returns what it observed. */
export async function main(log = console.log) {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const hub = new MemoryHub();

  async function device(name) {
    const identity = generateDeviceIdentity();
    hub.addMember(folderId, identity.signPublicKey);
    const replica = await Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      connect: () => hub.connect(),
      token: hub.tokenFor(identity.deviceId),
      remoteBlobs: hub.blobClient(identity.deviceId),
    });
    replica.on("conflict", ({ conflicts }) =>
      log(`${name}: conflict on ${conflicts.map((c) => c.path).join(", ")}`),
    );
    replica.start();
    log(`${name} is device ${identity.deviceId}`);
    return replica;
  }
  const laptop = await device("laptop");
  const phone = await device("phone");
  // Twice: what one device receives in its round may be what the other sends in its own.
  const both = async () => {
    for (let i = 0; i < 2; i++) await Promise.all([laptop.syncOnce(), phone.syncOnce()]);
  };

  // A file and a shared document.
  await laptop.writeFile("trip/packing.md", text("- passport\n"));
  const list = await laptop.doc("shopping");
  list.getArray("items").push(["coffee", "bread"]);
  await both();
  log(
    `phone sees ${phone
      .list()
      .map((e) => e.path)
      .join(", ")}`,
  );
  log(`phone reads packing.md: ${JSON.stringify(str(await phone.readFile("trip/packing.md")))}`);
  const phoneList = await phone.doc("shopping");
  log(`phone's shopping list: ${phoneList.getArray("items").toArray().join(", ")}`);

  // Apart: the phone goes offline, both edit the same file and the same list.
  hub.setOnline(phone.deviceId, false);
  await laptop.writeFile("trip/packing.md", text("- passport\n- charger\n"));
  await phone.writeFile("trip/packing.md", text("- passport\n- sunscreen\n"));
  list.getArray("items").push(["milk"]);
  phoneList.getArray("items").push(["apples"]);
  await laptop.syncOnce();

  // Together again: nothing is lost; the conflict shows as a copy until it is resolved.
  hub.setOnline(phone.deviceId, true);
  await both();
  const conflicts = phone.conflicts();
  log(
    `after meeting: ${phone
      .list()
      .filter((e) => e.kind === "file")
      .map((e) => e.path)
      .join(", ")}`,
  );
  await phone.resolveConflict("trip/packing.md", {
    merged: text("- passport\n- charger\n- sunscreen\n"),
  });
  await both();
  const packing = str(await laptop.readFile("trip/packing.md"));
  log(`resolved on the phone, the laptop reads: ${JSON.stringify(packing)}`);
  const items = list.getArray("items").toArray();
  log(`shopping list on both: ${items.join(", ")}`);
  log(
    `laptop's peers: ${JSON.stringify(laptop.peers().map((p) => ({ online: p.online, behind: p.behind })))}`,
  );

  await laptop.close();
  await phone.close();
  hub.close();
  return {
    conflicts: conflicts.length,
    packing,
    items,
    phoneItems: phoneList.getArray("items").toArray(),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
