// The protocol suite's fixture against relay processes: a fresh folder of the owner with the
// editor and viewer as members, and connections to the relay (or, in a cluster, to each relay
// in turn) that teardown closes.
import { type Transport, createWebSocketTransport } from "@weft/core";
import type { ProtocolDevice, ProtocolFixture } from "@weft/core/conformance";
import { newFolderId } from "@weft/crypto";
import { expect } from "vitest";
import { WebSocket } from "ws";
import { call } from "@weft/test-support";

/** The suite's four accounts' devices, signed up beforehand. */
export type SuiteDevices = Record<"owner" | "editor" | "viewer" | "outsider", ProtocolDevice>;

/**
 * A fixture whose requests and connections each go to the relay URL `nextUrl` gives (one relay:
 * always the same; a cluster: the next one each time).
 */
export async function relayProtocolFixture(
  devices: SuiteDevices,
  nextUrl: () => string,
): Promise<ProtocolFixture> {
  const folderId = newFolderId();
  const as = devices.owner.token;
  expect((await call(nextUrl(), "POST", "/v1/folders", { folderId }, as)).status).toBe(201);
  for (const role of ["editor", "viewer"]) {
    const member = { user: role, role };
    const added = await call(nextUrl(), "POST", `/v1/folders/${folderId}/members`, member, as);
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
      const t = createWebSocketTransport(`${nextUrl().replace("http", "ws")}/v1/ws`, { WebSocket });
      open.push(t);
      await t.connect();
      return t;
    },
    teardown: () => {
      for (const t of open) t.close();
      return Promise.resolve();
    },
  };
}
