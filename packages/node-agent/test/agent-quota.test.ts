// `weft sync --once` against a relay whose account quota is full: the relay refuses the upload
// on every retry, so the command must stop with the relay's reason (which quota, its figures)
// and say that the change is kept, instead of retrying for ever.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };

beforeAll(async () => {
  relay = await startRelayProcess({ WEFT_RELAY_ACCOUNT_QUOTA: "256KiB" });
  ana = await makeDevice("ana");
}, 60_000);
afterAll(async () => {
  await ana?.dispose();
  await relay?.dispose();
});

test("weft sync --once stops with the relay's quota refusal and says the change is kept", async () => {
  await enroll(ana, relay.url);
  await ana.ok(["folder", "create", ana.folder]);
  await writeFile(join(ana.folder, "big.bin"), randomBytes(600 * 1024));
  // --timeout only so that a regression fails instead of hanging: a full quota is not a
  // problem time solves, and the answer must not be "not in sync after 60 s".
  const refused = await ana.run(["sync", "--once", "--timeout", "60"]);
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toContain("the account quota is full");
  expect(refused.stderr).toContain("of 256.0 KiB (262144 bytes)");
  expect(refused.stderr).toContain("the change is kept here");
  expect(refused.stderr).not.toContain("not in sync after");
}, 120_000);
