// MemoryHub against the protocol suite the relay also runs (relay/test/relay-protocol.test.ts).
import { generateDeviceIdentity, newFolderId } from "@weft/crypto";
import { runProtocolTests } from "../src/conformance/index.js";
import { MemoryHub } from "../src/testing/index.js";

runProtocolTests("MemoryHub", () => {
  const hub = new MemoryHub({ seed: 7 });
  const folderId = newFolderId();
  const device = (role: "owner" | "editor" | "viewer") => {
    const identity = generateDeviceIdentity();
    return { identity, token: hub.tokenFor(hub.addMember(folderId, identity.signPublicKey, role)) };
  };
  const outsider = generateDeviceIdentity();
  const outsiderToken = hub.tokenFor(hub.addMember(newFolderId(), outsider.signPublicKey));
  return Promise.resolve({
    folderId,
    owner: device("owner"),
    editor: device("editor"),
    viewer: device("viewer"),
    outsiderToken,
    oneServer: true,
    connect: () => Promise.resolve(hub.connect()),
    teardown: () => Promise.resolve(hub.close()),
  });
});
