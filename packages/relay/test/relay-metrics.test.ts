// The relay's /metrics as Prometheus sees it: behind a token and on its own port, counting what
// a client did, accepted by `promtool check metrics`; and the deploy/ alert rules and Grafana
// dashboard checked against it (promtool on the rules, every metric they query present live).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type RelayProcess,
  call,
  pickFreePort,
  signUp,
  startRelayProcess,
} from "@weft/test-support";

const TOKEN = "metrics-token-for-tests-0123456789";
const deploy = (path: string): string =>
  fileURLToPath(new URL(`../../../deploy/${path}`, import.meta.url));
const PROMTOOL = spawnSync("promtool", ["--version"]).status === 0;
/** A test that needs promtool; when it is absent the name says why it was skipped. */
function promtoolTest(name: string, fn: () => Promise<void> | void): void {
  if (PROMTOOL) test(name, fn);
  else
    test.skip(`${name} (skipped: promtool is absent; scripts/system-packages.sh installs it)`, fn);
}

let relay: RelayProcess;
let metricsUrl: string;

beforeAll(async () => {
  await ready();
  const metricsPort = await pickFreePort();
  relay = await startRelayProcess({
    WEFT_RELAY_METRICS_TOKEN: TOKEN,
    WEFT_RELAY_METRICS_PORT: String(metricsPort),
  });
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
});

afterAll(async () => {
  await relay.dispose();
});

async function scrape(): Promise<string> {
  const res = await fetch(metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series, e.g. `weft_relay_folders` or `name{label="v"}`. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

describe("relay /metrics", () => {
  test("needs the token, on its own port only, and never shows the token", async () => {
    expect((await fetch(metricsUrl)).status).toBe(401);
    const wrong = await fetch(metricsUrl, { headers: { authorization: "Bearer not-the-token" } });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${relay.url}/metrics`)).status).toBe(404);
    const text = await scrape();
    expect(text).toContain("weft_relay_info");
    expect(text).toContain("process_cpu_seconds_total");
    expect(text).not.toContain(TOKEN);
    expect(relay.logs()).not.toContain(TOKEN);
  });

  test("a metrics port already taken stops the relay with the reason", async () => {
    // Taken by a plain server: two uWS relays would share a port (SO_REUSEPORT) instead.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const taken = (server.address() as AddressInfo).port;
    const data = await mkdtemp(join(tmpdir(), "weft-relay-metrics-"));
    try {
      const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
      const child = spawn(process.execPath, [cli, "--port", "0", "--data", data], {
        env: {
          ...process.env,
          WEFT_RELAY_METRICS_PORT: String(taken),
          WEFT_RELAY_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise((resolve) => child.once("exit", resolve));
      expect(stderr).toContain(`cannot listen on 127.0.0.1:${taken} (in use?)`);
      expect(code).toBe(1);
    } finally {
      server.close();
      await rm(data, { recursive: true, force: true });
    }
  });

  test("counts a folder, a stored chunk and the bytes a client sent", async () => {
    const before = await scrape();
    const owner = await signUp(relay.url, "metrics-owner", generateDeviceIdentity());
    const folderId = newFolderId();
    expect((await call(relay.url, "POST", "/v1/folders", { folderId }, owner)).status).toBe(201);
    const chunk = randomBytes(50_000);
    const put = await fetch(
      `${relay.url}/v1/folders/${folderId}/blobs/${randomBytes(32).toString("hex")}`,
      { method: "PUT", headers: { authorization: `Bearer ${owner}` }, body: chunk },
    );
    expect(put.status).toBeLessThan(300);
    const after = await scrape();
    expect(value(after, "weft_relay_folders")).toBe(value(before, "weft_relay_folders") + 1);
    expect(value(after, "weft_relay_stored_chunks")).toBe(1);
    expect(value(after, "weft_relay_stored_chunk_bytes")).toBe(chunk.length);
    const received = 'weft_relay_received_bytes_total{transport="http"}';
    expect(value(after, received) - value(before, received)).toBeGreaterThanOrEqual(chunk.length);
    expect(after).toMatch(
      /weft_relay_http_requests_total\{route="\/v1\/folders\/:folderId\/blobs\/:chunkId",status="20\d"\} 1/,
    );
    expect(after).not.toContain(folderId);
  });

  promtoolTest("promtool check metrics accepts the live output", async () => {
    const text = await scrape();
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.stdout + check.stderr).toBe("");
    expect(check.status).toBe(0);
  });
});

describe("deploy/ monitoring", () => {
  promtoolTest("the alert rules pass promtool check rules and their unit tests", () => {
    const dir = deploy("prometheus");
    execFileSync("promtool", ["check", "rules", "weft-relay-rules.yml"], { cwd: dir });
    execFileSync("promtool", ["test", "rules", "weft-relay-rules.test.yml"], { cwd: dir });
    execFileSync("promtool", ["check", "config", "--syntax-only", "scrape-example.yml"], {
      cwd: dir,
    });
  });

  test("every metric the dashboard and the alert rules query is in the live /metrics", async () => {
    const text = await scrape();
    const live = new Set(["up"]); // made by Prometheus for every target, not by the relay
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      live.add(m[1]!);
      if (m[2] === "histogram")
        for (const suffix of ["_bucket", "_sum", "_count"]) live.add(`${m[1]}${suffix}`);
    }
    const dashboard = JSON.parse(
      readFileSync(deploy("grafana/weft-relay-dashboard.json"), "utf8"),
    ) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(20);
    const rules = readFileSync(deploy("prometheus/weft-relay-rules.yml"), "utf8");
    exprs.push(...[...rules.matchAll(/^\s+expr: (\S.*)$/gm)].map((m) => m[1]!));
    exprs.push(...[...rules.matchAll(/^\s+expr: \|\n((?:\s{10,}.*\n)+)/gm)].map((m) => m[1]!));
    const queried = new Set(
      exprs.flatMap((e) => e.match(/\b(?:weft_relay_|process_|nodejs_)\w+|\bup\b/g) ?? []),
    );
    expect(queried.size).toBeGreaterThan(15);
    expect([...queried].filter((name) => !live.has(name))).toEqual([]);
  });
});
