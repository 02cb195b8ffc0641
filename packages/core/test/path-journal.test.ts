// The index's journal of the paths its tree changed at (FolderIndex.trackPaths): what a daemon
// plans after a remote change instead of the whole tree. Each changed file's paths before and
// after, its conflict copies', and nothing of the files that only shared a rewritten bucket.
import { describe, expect, test } from "vitest";
import { manifest, replicas } from "./helpers/folder-replicas.js";

const sorted = (paths: ReadonlySet<string> | undefined) => (paths ? [...paths].sort() : paths);

describe("PathJournal", () => {
  test("a remote edit, move, removal and conflict: the old and new paths, and no others", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    for (let i = 0; i < 40; i++) a.writeFile(`docs/f${i}.txt`, { manifest: manifest(i + 1) });
    a.writeFile("notes/todo.txt", { manifest: manifest(100) });
    sync();
    b.tree();
    const journal = b.trackPaths(1000);
    expect(sorted(journal.take())).toEqual([]);

    // One file of a's first bucket changes: the bucket travels whole, the journal names one file.
    a.writeFile("docs/f3.txt", { manifest: manifest(200) });
    sync();
    expect(sorted(journal.take())).toEqual(["docs/f3.txt"]);

    // A directory moved: its path before and after (what is under it is the reader's to see).
    a.move("notes", "archive/notes");
    a.remove("docs/f7.txt");
    sync();
    expect(sorted(journal.take())).toEqual(["archive", "archive/notes", "docs/f7.txt", "notes"]);

    // Concurrent edits: the file and its conflict copy.
    a.writeFile("docs/f1.txt", { manifest: manifest(300) });
    time.now += 1500;
    b.writeFile("docs/f1.txt", { manifest: manifest(301) });
    expect(sorted(journal.take())).toEqual(["docs/f1.txt"]); // b's own write counts too
    sync();
    expect(sorted(journal.take())).toEqual([
      "docs/f1.sync-conflict-20261122-120000-AAAAAAA.txt",
      "docs/f1.txt",
    ]);

    // Past its limit, the journal says it does not know; the next round starts afresh.
    const small = b.trackPaths(2);
    for (let i = 0; i < 3; i++) a.writeFile(`more/m${i}.txt`, { manifest: manifest(400 + i) });
    sync();
    expect(small.take()).toBeUndefined();
    expect(sorted(small.take())).toEqual([]);
    small.close();
    journal.close();
  });
});
