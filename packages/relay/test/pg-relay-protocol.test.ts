// The relay over PostgreSQL (--database) against core's protocol suite, the one the SQLite relay
// and MemoryHub run too: a real relay process on a database of this file's own, one fresh folder
// per test among the same four accounts. Then two Replicas sync a distinctive file through it,
// and no row of any table holds its name or content in the clear.
import { generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { type ProtocolDevice, runProtocolTests } from "@weft/core/conformance";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type RelayProcess,
  type TestDatabase,
  call,
  createTestDatabase,
  signUp,
  startRelayProcess,
} from "@weft/test-support";

import { syncDistinctiveFile } from "./helpers/plaintext-scenario.js";
import { type SuiteDevices, relayProtocolFixture } from "./helpers/protocol-fixture.js";

let db: TestDatabase;
let relay: RelayProcess;
let devices: SuiteDevices;

beforeAll(async () => {
  await ready();
  db = await createTestDatabase();
  relay = await startRelayProcess({ WEFT_RELAY_DATABASE: db.url });
  const device = async (user: string): Promise<ProtocolDevice> => {
    const identity = generateDeviceIdentity();
    return { identity, token: await signUp(relay.url, user, identity) };
  };
  devices = {
    owner: await device("owner"),
    editor: await device("editor"),
    viewer: await device("viewer"),
    outsider: await device("outsider"),
  };
  const created = await call(
    relay.url,
    "POST",
    "/v1/folders",
    { folderId: newFolderId() },
    devices.outsider.token,
  );
  expect(created.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await relay?.dispose();
  await db?.drop();
});

test("no row of the database holds a file's name or content in the clear", async () => {
  const needles = await syncDistinctiveFile(relay.url);
  const columns = await db.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns " +
      "WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'character varying')",
  );
  expect(columns.length).toBeGreaterThan(10);
  let values = 0;
  for (const { table_name: table, column_name: column } of columns) {
    const rows = await db.query<Record<string, unknown>>(`SELECT "${column}" AS v FROM "${table}"`);
    for (const { v } of rows) {
      if (v === null) continue;
      values++;
      const bytes = Buffer.isBuffer(v)
        ? v
        : Buffer.from(typeof v === "string" ? v : JSON.stringify(v));
      for (const n of needles)
        expect(bytes.indexOf(n), `${n.toString()} in ${table}.${column}`).toBe(-1);
    }
  }
  expect(values).toBeGreaterThan(0);
  // The envelopes are there, as ciphertext.
  expect(
    (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM log"))[0]?.n,
  ).toBeGreaterThan(0);
}, 60_000);

runProtocolTests("relay", () => relayProtocolFixture(devices, () => relay.url));
