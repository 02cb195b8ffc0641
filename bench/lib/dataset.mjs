#!/usr/bin/env node
// A seeded, deterministic folder tree for the sync benchmarks: what a real synced folder holds,
// about 1 GiB at scale 1 — one 400 MiB file, forty 10 MiB files, 2,000 files of ~100 KiB and
// 20,000 of ~4 KiB in nested directories, some compressible text and some random bytes. The
// same seed and scale give the same names and bytes on every machine.
//
//   import { planDataset, writeDataset } from "./lib/dataset.mjs";
//   const tree = writeDataset(dir, { scale: 0.1 });   // { files: [{ path, size, sha256 }], bytes, … }
//   node bench/lib/dataset.mjs DIR [--scale 0.1] [--seed S]   (standalone: writes DIR, prints a summary)
//
// Scale multiplies every class's total bytes: a class's file count scales too (down to a floor:
// at 0.01 there are still two "10 MiB" files, 2 MiB each), small files keep their size.
// Random bytes are a ChaCha20 keystream (lib/input.mjs) seeded per file; text is cut from a
// pool of seeded words with a unique line every few KiB, so it compresses like prose (~3×) but
// no two files and no two blocks are the same (block dedup would otherwise flatter a tool).
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { seededBlocks } from "./input.mjs";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The four classes at scale 1: how many files, their mean size, the share that is text, the
 * fewest files a scaled-down class keeps, and whether sizes vary around the mean (±50%).
 */
export const CLASSES = [
  { name: "large", count: 1, size: 400 * MiB, text: 0, min: 1, vary: false },
  { name: "medium", count: 40, size: 10 * MiB, text: 0.5, min: 2, vary: false },
  { name: "small", count: 2000, size: 100 * KiB, text: 0.5, min: 10, vary: true },
  { name: "tiny", count: 20000, size: 4 * KiB, text: 0.7, min: 20, vary: true },
];

/** sfc32: a small, fast PRNG with a 128-bit state seeded from a string. Returns [0, 1). */
export function prng(seed) {
  const h = createHash("sha256").update(`weft-dataset:${seed}`).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** Where file `i` of a class lives: nested directories, 100 files (50 for "small") per leaf. */
function pathOf(cls, i, isText) {
  const n = String(i).padStart(5, "0");
  switch (cls) {
    case "large":
      return `media/big-${i}.bin`;
    case "medium":
      return `media/clips/clip-${n}.${isText ? "log" : "bin"}`;
    case "small": {
      const leaf = Math.floor(i / 50);
      return `docs/sec-${leaf % 8}/part-${leaf}/doc-${n}.${isText ? "md" : "dat"}`;
    }
    default: {
      const leaf = Math.floor(i / 100);
      // Depth 3 or 4: every third leaf one level deeper.
      const deeper = leaf % 3 === 2 ? `/gen-${leaf % 5}` : "";
      return `src/pkg-${leaf % 10}/mod-${leaf}${deeper}/f-${n}.${isText ? "ts" : "bin"}`;
    }
  }
}

/**
 * One class of `count` files of exactly `size` bytes, half of them text, 100 to a directory: a
 * dataset of one file size, for `bench:sync --sizes`.
 */
export const uniformClass = (size, count) => ({
  name: `uniform-${size}`,
  count,
  size,
  text: 0.5,
  min: 1,
  vary: false,
});

/**
 * The files of a dataset, without writing anything: `[{ path, size, text, seed }]` sorted by
 * path, and the totals. `classes` (default {@link CLASSES}) says what it holds.
 */
export function planDataset({ scale = 1, seed = "weft", classes = CLASSES } = {}) {
  if (!(scale > 0)) throw new Error(`scale must be above 0, not ${scale}`);
  const rand = prng(`${seed}:plan`);
  const files = [];
  for (const c of classes) {
    const count = Math.max(c.min, Math.round(c.count * scale));
    // Class bytes scale with `scale`; a class held up by its floor gets smaller files.
    const mean = Math.max(1, Math.round((c.size * c.count * scale) / count));
    for (let i = 0; i < count; i++) {
      const text = rand() < c.text;
      const size = c.vary ? Math.max(1, Math.round(mean * (0.5 + rand()))) : mean;
      files.push({ path: pathOf(c.name, i, text), size, text, seed: `${seed}:${c.name}:${i}` });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const dirs = new Set();
  for (const f of files)
    for (let d = dirname(f.path); d !== "."; d = dirname(d)) {
      if (dirs.has(d)) break;
      dirs.add(d);
    }
  return {
    seed,
    scale,
    files,
    bytes: files.reduce((s, f) => s + f.size, 0),
    textFiles: files.filter((f) => f.text).length,
    dirs: dirs.size,
  };
}

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which " +
  "but have an they you were her she there would their we him been has when who will more no " +
  "if out so said what up its about into than them can only other new some could time these " +
  "two may then do first any my now such like our over man me even most made after also did " +
  "many before must through back years where much your way well down should because each just " +
  "folder replica chunk manifest relay device sync index version vector encrypt sealed ciphertext " +
  "const let return function async await import export interface type string number boolean"
).split(" ");

/** A few MiB of seeded prose-like text, shared by every text file of a dataset. */
function textPool(seed, bytes = 4 * MiB) {
  const rand = prng(`${seed}:text`);
  const out = Buffer.allocUnsafe(bytes + 256);
  let at = 0;
  let line = 0;
  while (at < bytes) {
    const word = WORDS[Math.floor(rand() * WORDS.length)];
    at += out.write(word, at, "latin1");
    line += word.length + 1;
    if (line > 60 + rand() * 40) {
      out[at++] = 10;
      line = 0;
    } else out[at++] = 32;
  }
  return out.subarray(0, bytes);
}

/**
 * Text bytes of a file: a unique header line, then slices of the pool at seeded offsets, each
 * after a line naming the file and the slice, so every few KiB differ from any other file's.
 */
function textBlocks(pool, file, blockSize = 4 * MiB) {
  const rand = prng(file.seed);
  const out = [];
  let block = Buffer.allocUnsafe(Math.min(blockSize, file.size));
  let at = 0;
  let left = file.size;
  let slice = 0;
  const push = (bytes) => {
    let from = 0;
    while (from < bytes.length && left > 0) {
      const n = Math.min(bytes.length - from, block.length - at, left);
      bytes.copy(block, at, from, from + n);
      at += n;
      from += n;
      left -= n;
      if (at === block.length || left === 0) {
        out.push(block.subarray(0, at));
        block = Buffer.allocUnsafe(Math.min(blockSize, Math.max(left, 1)));
        at = 0;
      }
    }
  };
  while (left > 0) {
    push(Buffer.from(`# ${file.path} @${slice++} ${Math.floor(rand() * 1e9)}\n`, "latin1"));
    const len = 2 * KiB + Math.floor(rand() * 30 * KiB);
    const from = Math.floor(rand() * (pool.length - len));
    push(pool.subarray(from, from + len));
  }
  return out;
}

/**
 * Writes the dataset under `dir` (created if missing; existing files of the same names are
 * replaced) and returns the plan with each file's SHA-256: the expected tree for comparisons.
 * Synchronous on purpose: nothing else runs meanwhile, and it is faster than the promise API
 * for 20,000 small files.
 */
export function writeDataset(dir, options = {}) {
  const plan = planDataset(options);
  const pool = textPool(plan.seed);
  const made = new Set();
  const t0 = performance.now();
  for (const f of plan.files) {
    const path = join(dir, f.path);
    const parent = dirname(path);
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    const hash = createHash("sha256");
    if (f.size <= 4 * MiB) {
      const bytes = f.text
        ? Buffer.concat(textBlocks(pool, f))
        : seededBlocks(f.seed, f.size, f.size).next().value;
      hash.update(bytes);
      writeFileSync(path, bytes);
    } else {
      const fd = openSync(path, "w");
      try {
        const blocks = f.text ? textBlocks(pool, f) : seededBlocks(f.seed, f.size, 4 * MiB);
        for (const block of blocks) {
          hash.update(block);
          writeSync(fd, block);
        }
      } finally {
        closeSync(fd);
      }
    }
    f.sha256 = hash.digest("hex");
  }
  return { ...plan, writeMs: Math.round(performance.now() - t0) };
}

/** A one-line description of a plan, for logs. */
export const describe = (plan) =>
  `${plan.files.length} files (${plan.textFiles} text), ${plan.dirs} directories, ` +
  `${(plan.bytes / MiB).toFixed(1)} MiB, scale ${plan.scale}, seed ${plan.seed}`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const flag = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const dir = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
  if (!dir) {
    process.stderr.write("usage: node bench/lib/dataset.mjs DIR [--scale 0.1] [--seed S]\n");
    process.exit(2);
  }
  const tree = writeDataset(dir, { scale: Number(flag("--scale", "1")), seed: flag("--seed") });
  console.log(`${dir}: ${describe(tree)}, written in ${tree.writeMs} ms`);
}
