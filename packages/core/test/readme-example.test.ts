/**
 * The README's library example, run as written (between the `example` markers), so the front
 * page stays true: two devices, chunks sealed, index updates sealed in signed envelopes, a
 * concurrent edit resolved by keeping both versions.
 */
import {
  decodeEnvelope,
  deriveFolderSubkeys,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  openChunk,
  openEnvelope,
  ready,
  sealChunk,
  sealEnvelope,
} from "@weft/crypto";
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { FolderIndex, buildManifest } from "../src/index.js";

test("the README example runs and both devices end with the same tree", async () => {
  // example: begin
  await ready();
  const folderId = newFolderId();
  const keys = deriveFolderSubkeys(generateFolderKey(), 0); // every member gets the folder key
  const laptop = generateDeviceIdentity(); // laptop.deviceId: "EH7D-DX5B-KSRG-…"
  const phone = generateDeviceIdentity();

  // Content: chunk, name and seal. The relay would store each sealed chunk under its id.
  const blobs = new Map<string, Uint8Array>();
  async function describe(bytes: Uint8Array) {
    return buildManifest(bytes, {
      chunkIdKey: keys.chunkId,
      onChunk: ({ id, data }) => {
        blobs.set(id, sealChunk(keys.chunk, { chunkId: id, folderId, epoch: 0 }, data));
      },
    });
  }

  // The index: each local change is one update, sealed and signed before it leaves the device.
  const a = new FolderIndex({ device: laptop.deviceId });
  const b = new FolderIndex({ device: phone.deviceId });
  let seq = 0;
  const outbox: Uint8Array[] = [];
  a.onLocalUpdate((update) => {
    const header = { folderId, deviceId: laptop.deviceId, deviceSeq: ++seq, epoch: 0 };
    outbox.push(encodeEnvelope(sealEnvelope(header, keys.index, laptop.signSecretKey, update)));
  });

  a.writeFile("notes/plan.md", { manifest: await describe(new TextEncoder().encode("v1")) });
  a.move("notes", "archive/notes"); // same file id: history follows the file

  // The phone opens each envelope (signature, then decryption) and merges the update.
  for (const bytes of outbox)
    b.applyDelta(openEnvelope(decodeEnvelope(bytes), keys.index, laptop.signPublicKey));

  // Concurrent edits on both devices; deltas can go in any order, any number of times.
  a.writeFile("archive/notes/plan.md", {
    manifest: await describe(new TextEncoder().encode("laptop")),
  });
  b.writeFile("archive/notes/plan.md", {
    manifest: await describe(new TextEncoder().encode("phone")),
  });
  a.applyDelta(b.encodeDelta(a.stateVector()));
  b.applyDelta(a.encodeDelta(b.stateVector()));

  const [conflict] = b.conflicts(); // one winner by last writer, the other kept as a copy
  b.resolveConflict(conflict!.path, { keepBoth: true }); // the copy becomes a file of its own
  a.applyDelta(b.encodeDelta(a.stateVector()));

  // Reading back: every chunk is verified when it is opened.
  const entry = a.stat("archive/notes/plan.md")!;
  const chunks = entry.version.manifest!.chunks.map(({ id }) =>
    openChunk(keys.chunk, { chunkId: id, folderId, epoch: 0 }, blobs.get(id)!),
  );
  // example: end

  const paths = (x: FolderIndex) => [...x.tree().entries.keys()].sort();
  expect(paths(a)).toEqual(paths(b));
  expect(paths(a)).toHaveLength(4); // archive, archive/notes, plan.md, its former conflict copy
  expect(a.conflicts()).toEqual([]);
  expect(["laptop", "phone"]).toContain(new TextDecoder().decode(chunks[0]));
  expect(a.history("archive/notes/plan.md").length).toBeGreaterThan(0);
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
