// Folder trees as the sync benchmarks compare them: names, sizes and SHA-256 of every regular
// file, leaving out each tool's own bookkeeping (Syncthing's .stfolder and temp files, Weft's
// temp files, rsync's dot-temp files while it runs). A cheap watcher tells when a tree has every
// expected file at its expected size, so the clock stops without hashing a GiB on every poll.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** Names the tools keep inside a synced folder that are not part of the user's tree. */
/** Bytes of every regular file under `dir` (apparent sizes, as `du -b` counts; 0 when absent). */
export function bytesUnder(dir) {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

export function isToolEntry(name) {
  return (
    name === ".stfolder" ||
    name === ".stversions" ||
    name === ".stignore" ||
    name.startsWith(".syncthing.") ||
    name.startsWith("~syncthing~") ||
    name.startsWith(".weft-tmp-") ||
    name === ".weftignore"
  );
}

/** SHA-256 of a file in hex, read in 4 MiB blocks. */
export function sha256File(path, buffer = Buffer.allocUnsafe(4 * 1024 * 1024)) {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Relative paths and sizes of the regular files under `dir` (tool entries left out), sorted. */
export function listTree(dir) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      if (isToolEntry(e.name)) continue;
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path);
      else out.push({ path, size: e.isFile() ? statSync(join(dir, path)).size : -1 });
    }
  };
  walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** `listTree` plus each file's SHA-256. */
export function digestTree(dir) {
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  return listTree(dir).map((f) => ({ ...f, sha256: sha256File(join(dir, f.path), buffer) }));
}

/**
 * Differences between an expected list of `{ path, size, sha256? }` and the tree under `dir`:
 * missing, extra and different files (at most `limit` of each listed). Empty when identical.
 */
export function compareTree(expected, dir, { limit = 5 } = {}) {
  const actual = new Map(digestTree(dir).map((f) => [f.path, f]));
  const problems = { missing: [], extra: [], different: [] };
  for (const f of expected) {
    const got = actual.get(f.path);
    actual.delete(f.path);
    if (!got) problems.missing.push(f.path);
    else if (got.size !== f.size || (f.sha256 && got.sha256 !== f.sha256))
      problems.different.push(`${f.path} (${got.size} bytes, wanted ${f.size})`);
  }
  problems.extra.push(...actual.keys());
  const count = problems.missing.length + problems.extra.length + problems.different.length;
  if (count === 0) return null;
  const show = (k) =>
    problems[k].length
      ? `${problems[k].length} ${k}: ${problems[k].slice(0, limit).join(", ")}${problems[k].length > limit ? ", …" : ""}`
      : null;
  return ["missing", "extra", "different"].map(show).filter(Boolean).join("; ");
}

/** Throws, naming the differences, unless the tree under `dir` is exactly `expected`. */
export function assertTree(expected, dir, what) {
  const diff = compareTree(expected, dir);
  if (diff) throw new Error(`${what}: the tree at ${dir} is not the expected one: ${diff}`);
}

/**
 * A cheap progress check of `dir` against `expected`: each call lists only the directories that
 * still hold a pending file and stats only pending files that exist, so late polls cost little.
 * Returns how many files are still missing or of another size (0: every name and size is there;
 * hash the tree to be sure of the content).
 */
export function arrivalTracker(expected, dir) {
  const pending = new Map(); // directory → Map(name → size)
  for (const f of expected) {
    const d = dirname(f.path);
    if (!pending.has(d)) pending.set(d, new Map());
    pending.get(d).set(f.path.slice(d === "." ? 0 : d.length + 1), f.size);
  }
  let left = expected.length;
  return () => {
    for (const [d, names] of pending) {
      let present;
      try {
        present = readdirSync(join(dir, d));
      } catch {
        continue;
      }
      for (const name of present) {
        const size = names.get(name);
        if (size === undefined) continue;
        let st;
        try {
          st = statSync(join(dir, d, name));
        } catch {
          continue;
        }
        if (st.isFile() && st.size === size) {
          names.delete(name);
          left--;
        }
      }
      if (names.size === 0) pending.delete(d);
    }
    return left;
  };
}
