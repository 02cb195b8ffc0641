#!/usr/bin/env node
// bench:fuzz — mutated and random WebSocket frames and HTTP requests against one relay process
// on loopback (lib/fuzz-kit.mjs): every case must be answered, refused or closed. Reports the
// cases run, crashes (the relay exited), hangs (no answer in 15 s), internal errors (a 5xx other
// than 503, or an `internal` error frame) and the relay's RSS at the start and the end. Exits 1
// on any crash, hang or internal error. Writes bench/results/fuzz.json.
//
//   npm run bench:fuzz [-- --cases N] [-- --seed S] [-- --concurrency C] [-- --minutes M] [-- --quick]
//   (default 10⁶ cases, 4/5 WebSocket frames and 1/5 HTTP requests; --quick: 20,000 cases,
//    writes results/fuzz.quick.json; --minutes: no case starts after M minutes)
import { mkdtemp, rm } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateDeviceIdentity, newFolderId, ready, toBase64Url } from "@weft/crypto";
import { fuzzRelay } from "./lib/fuzz-kit.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { cpuSecondsOf, ownCpuSeconds, rssOf } from "./lib/procs.mjs";
import { writeReport } from "./lib/report.mjs";
import { startRelay } from "./lib/weft.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CASES = arg("--cases", quick ? 20_000 : 1_000_000);
const SEED = arg("--seed", 1);
const CONCURRENCY = arg("--concurrency", 16);
// Stop starting cases after this many minutes (a run that must end in time; the report says so).
const MINUTES = arg("--minutes", Infinity);
const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));

await ready();
const dir = await mkdtemp(join(tmpdir(), "weft-fuzz-"));
const relay = await startRelay({
  dir,
  flags: ["--rate-limit", "0"],
  // Day-long access tokens: the run uses one token throughout, and with the 15-minute default
  // every case after the first 15 minutes met only the unauthenticated surface (401s).
  env: { WEFT_RELAY_ACCESS_TTL: "86400" },
});
try {
  const call = async (method, path, body, token) => {
    const res = await globalThis.fetch(`${relay.url}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const device = generateDeviceIdentity();
  const user = { user: "fuzzer", password: "fuzzer-correct-horse" };
  await call("POST", "/v1/auth/register", user);
  const { accessToken: token } = await call("POST", "/v1/auth/login", {
    ...user,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  const folderId = newFolderId();
  await call("POST", "/v1/folders", { folderId }, token);

  const rssStart = rssOf(relay.pid);
  const loadStart = os.loadavg()[0];
  const cpuStart = { relay: cpuSecondsOf(relay.pid), client: ownCpuSeconds() };
  let rssMax = rssStart;
  const rssSeries = [];
  const wsCases = Math.round(CASES * 0.8);
  let shown = { hangs: 0, internal: 0 };
  const report = await fuzzRelay({
    url: relay.url,
    token,
    folderId,
    device,
    seed: SEED,
    wsCases,
    httpCases: CASES - wsCases,
    concurrency: CONCURRENCY,
    ...(Number.isFinite(MINUTES) ? { deadline: performance.now() + MINUTES * 60_000 } : {}),
    progress: (r) => {
      rssMax = Math.max(rssMax, rssOf(relay.pid) ?? 0);
      // Hangs and internal errors as they come, so a long run shows them before it ends.
      for (const h of r.hangs.slice(shown.hangs)) console.log("hang:", JSON.stringify(h));
      for (const e of r.internal.slice(shown.internal)) console.log("internal:", JSON.stringify(e));
      shown = { hangs: r.hangs.length, internal: r.internal.length };
      const done = r.wsCases + r.httpCases;
      if (done % 50_000 === 0) {
        const rss = Math.round((rssOf(relay.pid) / 2 ** 20) * 10) / 10;
        rssSeries.push([done, rss]); // flat memory is a trend, not two end points
        console.log(
          `${done} cases, ${r.hangs.length} hangs, ${r.internal.length} internal, relay RSS ${rss} MiB`,
        );
      }
    },
  });
  const alive = relay.handle.child.exitCode === null && relay.handle.child.signalCode === null;
  const health = alive ? (await globalThis.fetch(`${relay.url}/health`)).status : null;
  const rssEnd = rssOf(relay.pid);
  const cpu = {
    relay: cpuSecondsOf(relay.pid) - cpuStart.relay,
    client: ownCpuSeconds() - cpuStart.client,
  };
  rssMax = Math.max(rssMax, rssEnd ?? 0);
  const result = {
    bench: "fuzz",
    command: `npm run bench:fuzz${args.length ? ` -- ${args.join(" ")}` : ""}`,
    quick,
    date: new Date().toISOString(),
    machine: machineInfo(null),
    seed: SEED,
    concurrency: CONCURRENCY,
    casesAsked: CASES,
    minutesAllowed: Number.isFinite(MINUTES) ? MINUTES : null,
    cases: report.wsCases + report.httpCases,
    wsCases: report.wsCases,
    httpCases: report.httpCases,
    crashes: alive ? 0 : 1,
    hangs: report.hangs.length,
    internalErrors: report.internal.length,
    healthAfter: health,
    rssStartMiB: Math.round((rssStart / 2 ** 20) * 10) / 10,
    rssEndMiB: Math.round((rssEnd / 2 ** 20) * 10) / 10,
    rssMaxMiB: Math.round((rssMax / 2 ** 20) * 10) / 10,
    rssEvery50kMiB: rssSeries,
    seconds: Math.round(report.seconds),
    casesPerSecond: Math.round((report.wsCases + report.httpCases) / report.seconds),
    // CPU per case: what the machine's load does not change (wall time it does).
    cpuMsPerCase: {
      relay: Math.round((cpu.relay * 1e6) / (report.wsCases + report.httpCases)) / 1000,
      client: Math.round((cpu.client * 1e6) / (report.wsCases + report.httpCases)) / 1000,
    },
    loadAverage1m: {
      start: Math.round(loadStart * 10) / 10,
      end: Math.round(os.loadavg()[0] * 10) / 10,
    },
    ws: report.ws,
    http: report.http,
    connectionResets: report.resets,
    refusedUpgrades: report.refusedUpgrades,
    unauthorizedUpgrades: report.unauthorizedUpgrades,
    samples: { hangs: report.hangs.slice(0, 10), internal: report.internal.slice(0, 10) },
  };
  writeFileSync(
    join(resultsDir, quick ? "fuzz.quick.json" : "fuzz.json"),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  writeReport();
  console.log(
    `fuzz: ${result.cases} cases (${result.wsCases} WebSocket, ${result.httpCases} HTTP) in ${result.seconds} s: ` +
      `${result.crashes} crashes, ${result.hangs} hangs, ${result.internalErrors} internal errors; ` +
      `relay RSS ${result.rssStartMiB} → ${result.rssEndMiB} MiB (max ${result.rssMaxMiB})`,
  );
  if (result.unauthorizedUpgrades)
    console.log(`the token stopped working: ${result.unauthorizedUpgrades} upgrades answered 401`);
  if (result.crashes || result.hangs || result.internalErrors || result.unauthorizedUpgrades) {
    console.log(JSON.stringify(result.samples, null, 2));
    process.exitCode = 1;
  }
} finally {
  await relay.stop();
  await rm(dir, { recursive: true, force: true });
}
