// Hostile bytes against a relay process: a seeded run of mutated and random WebSocket frames and
// HTTP requests (bench/lib/fuzz-kit.mjs; `npm run bench:fuzz` runs 10⁶) must end with the relay
// alive, every case answered, refused or closed, and no internal error; and every route that
// reads JSON answers 400 with a clear message to bodies nested to exhaust a recursive parser.
import {
  type DeviceIdentity,
  type FolderId,
  generateDeviceIdentity,
  newFolderId,
  ready,
} from "@weft/crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { fuzzRelay } from "../../../bench/lib/fuzz-kit.mjs";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;
let token: string;
let device: DeviceIdentity;
let folderId: FolderId;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess({ WEFT_RELAY_RATE_LIMIT: "0" });
  device = generateDeviceIdentity();
  token = await signUp(relay.url, "fuzz", device);
  folderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, token)).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await relay?.dispose();
});

test("every JSON route answers 400, not 500, to 64 KiB of nesting", async () => {
  const f = `/v1/folders/${folderId}`;
  const routes: [string, string][] = [
    ["POST", "/v1/auth/register"],
    ["POST", "/v1/auth/login"],
    ["POST", "/v1/auth/refresh"],
    ["POST", "/v1/auth/logout"],
    ["POST", "/v1/devices"],
    ["POST", "/v1/folders"],
    ["POST", `${f}/members`],
    ["POST", `${f}/invites`],
    ["PUT", `${f}/keys/${device.deviceId}`],
    ["POST", `${f}/blobs/missing`],
    ["POST", `${f}/blobs/fetch`],
    ["POST", `${f}/blobs/delete`],
  ];
  const n = 32_000;
  const bodies = [
    "[".repeat(n),
    "[".repeat(n) + "]".repeat(n),
    `{"ids":${"[".repeat(n / 2)}${"]".repeat(n / 2)}}`,
    '{"a":'.repeat(n / 4) + "1" + "}".repeat(n / 4),
  ];
  const wrong: string[] = [];
  for (const [method, path] of routes)
    for (const body of bodies) {
      const got = await call(relay.url, method, path, body, token);
      const message = (got.json["error"] as { message?: string } | undefined)?.message ?? "";
      if (got.status !== 400 || !/JSON|nested/.test(message))
        wrong.push(`${method} ${path} (${body.slice(0, 8)}…): ${got.status} ${message}`);
    }
  expect(wrong).toEqual([]);
});

test("a seeded fuzz run: the relay stays up, answers every case, and has no internal error", async () => {
  const report = await fuzzRelay({
    url: relay.url,
    token,
    folderId,
    device,
    seed: 21,
    wsCases: 1400,
    httpCases: 600,
    concurrency: 16,
  });
  console.log(
    `fuzz (seed ${report.seed}): ${report.wsCases} WebSocket frames, ${report.httpCases} HTTP requests in ${report.seconds.toFixed(1)} s`,
  );
  expect(relay.running()).toBe(true);
  expect(report.hangs).toEqual([]);
  expect(report.internal).toEqual([]);
  expect(report.wsCases + report.httpCases).toBe(2000);
  expect((await call(relay.url, "GET", "/health")).status).toBe(200);
}, 120_000);
