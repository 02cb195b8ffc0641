// The relay against core's protocol suite, the one MemoryHub runs too (core/test/hub-protocol.test.ts):
// a real relay process, one fresh folder per test among the same four accounts.
import { generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { type ProtocolDevice, runProtocolTests } from "@weft/core/conformance";
import { afterAll, beforeAll, expect } from "vitest";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";
import { type SuiteDevices, relayProtocolFixture } from "./helpers/protocol-fixture.js";

let relay: RelayProcess;
let devices: SuiteDevices;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
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
  await relay.dispose();
});

runProtocolTests("relay", () => relayProtocolFixture(devices, () => relay.url));
