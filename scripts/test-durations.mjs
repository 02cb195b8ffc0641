#!/usr/bin/env node
// Rewrites test-durations.json (the order vitest.sequencer.ts runs files in) from the durations
// vitest recorded in its cache on the last run of each file (hooks included, which a JSON
// report leaves out): run `npm test`, then `node scripts/test-durations.mjs`.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const cacheDir = join(root, "node_modules", ".vite", "vitest");
const seconds = {};
for (const dir of readdirSync(cacheDir)) {
  let results;
  try {
    results = JSON.parse(readFileSync(join(cacheDir, dir, "results.json"), "utf8")).results;
  } catch {
    continue; // not a results cache
  }
  for (const [key, { duration }] of results) {
    // Keys are "<project>:<path>"; the project names are in vitest.config.ts.
    const path = key.slice(key.indexOf(":") + 1);
    if (key.startsWith("shared:") || key.startsWith("isolated:"))
      seconds[path] = Math.round(duration / 100) / 10;
  }
}
const sorted = Object.fromEntries(Object.entries(seconds).sort(([a], [b]) => (a < b ? -1 : 1)));
const out = join(root, "test-durations.json");
writeFileSync(
  out,
  `${JSON.stringify({ note: "written by scripts/test-durations.mjs; see vitest.sequencer.ts", seconds: sorted }, null, 2)}\n`,
);
process.stdout.write(`${Object.keys(sorted).length} files -> ${out}\n`);
