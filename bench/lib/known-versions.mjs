#!/usr/bin/env node
// Prints (JSON) the content hash of every file version the replica of WEFT_HOME's first folder
// knows: current, conflicting and in history, of live and deleted files. The fault benches run
// it with the daemon stopped, to check that no version a device wrote was lost (DESIGN.md §8,
// invariant 2). Opens the local state only; never connects.
import { ready } from "@weft/crypto";
import { FolderSync, Home } from "@weft/node-agent";

await ready();
const home = Home.fromEnv(process.env);
const identity = await home.device(async () => process.env["WEFT_DEVICE_PASSPHRASE"] ?? "");
const [folder] = await home.folders();
if (!folder) throw new Error("no folder in this WEFT_HOME");
const sync = await FolderSync.open(home, folder, identity);
const hashes = new Set();
const index = sync.replica.index;
try {
  for (const fileId of index.fileIds()) {
    const f = index.file(fileId);
    for (const c of f?.contents ?? []) {
      if (c.manifest) hashes.add(c.manifest.contentHash);
      for (const v of [...c.history, ...c.conflicts])
        if (v.manifest) hashes.add(v.manifest.contentHash);
    }
    for (const v of index.historyOf(fileId)) if (v.manifest) hashes.add(v.manifest.contentHash);
  }
} finally {
  await sync.close();
}
console.log(JSON.stringify({ files: index.fileIds().length, contentHashes: [...hashes] }));
