#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from `--cpu-prof`) without a browser: per profile, the total,
// idle and busy seconds, the functions with the most self time, and the inclusive time of the
// frames whose script URL or function name contains each given string.
//
//   node bench/lib/cpuprofile.mjs DIR_OR_FILE [--top 15] [--incl chokidar,/watch/,scan/]
//
// Profiles are listed largest first (the daemons of a bench run are the largest).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const top = Number(option("--top", "15"));
const incl = option("--incl", "")
  .split(",")
  .filter((s) => s !== "");
const target = args[0];
if (!target) {
  console.error("usage: node bench/lib/cpuprofile.mjs DIR_OR_FILE [--top N] [--incl a,b]");
  process.exit(2);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(target, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)
  : [target];

const s = (us) => (us / 1e6).toFixed(2).padStart(7);
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (cf) =>
    `${cf.functionName || "(anonymous)"} ${cf.url.split("/").slice(-2).join("/")}:${cf.lineNumber + 1}`;
  const self = new Map();
  const inclusive = new Map(incl.map((x) => [x, 0]));
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const cf = byId.get(id).callFrame;
    if (cf.functionName === "(idle)") idle += dt;
    self.set(label(cf), (self.get(label(cf)) ?? 0) + dt);
    if (incl.length === 0) return;
    const stack = [];
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const f = byId.get(n).callFrame;
      stack.push(`${f.url} ${f.functionName}`);
    }
    for (const x of incl)
      if (stack.some((f) => f.includes(x))) inclusive.set(x, inclusive.get(x) + dt);
  });
  console.log(`\n${file}: ${s(total)} s, idle ${s(idle)} s, busy ${s(total - idle)} s`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${s(us)}  ${name}`);
  for (const [x, us] of inclusive) console.log(`${s(us)}  inclusive: ${x}`);
}
