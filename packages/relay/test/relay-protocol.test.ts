// The relay against core's protocol suite, the one MemoryHub runs too (core/test/hub-protocol.test.ts):
// a real relay process, one fresh folder per test among the same four accounts.
import { type FolderId, generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { type Transport, createWebSocketTransport } from "@weft/core";
import { type ProtocolDevice, runProtocolTests } from "@weft/core/conformance";
import { afterAll, beforeAll, expect } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;
let devices: Record<"owner" | "editor" | "viewer" | "outsider", ProtocolDevice>;

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

runProtocolTests("relay", async () => {
  const folderId: FolderId = newFolderId();
  const as = devices.owner.token;
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, as)).status).toBe(201);
  for (const role of ["editor", "viewer"]) {
    const added = await call(
      relay.url,
      "POST",
      `/v1/folders/${folderId}/members`,
      { user: role, role },
      as,
    );
    expect(added.status).toBe(204);
  }
  const open: Transport[] = [];
  return {
    folderId,
    owner: devices.owner,
    editor: devices.editor,
    viewer: devices.viewer,
    outsiderToken: devices.outsider.token,
    connect: async () => {
      const t = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, { WebSocket });
      open.push(t);
      await t.connect();
      return t;
    },
    teardown: () => {
      for (const t of open) t.close();
      return Promise.resolve();
    },
  };
});
