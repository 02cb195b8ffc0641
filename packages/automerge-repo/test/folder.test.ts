// WeftNetworkAdapter (the folder) alone over the in-memory hub's test network: a Repo and a
// Weft-native app (replica.automerge) share one document, and whenStored waits for heads that
// reach the folder through the log rather than from the Repo.
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { createTestNetwork, type TestNetwork } from "@weft/core/testing";
import { afterEach, expect, test } from "vitest";
import { WeftNetworkAdapter } from "../src/index.js";

let net: TestNetwork | undefined;
let repo: Repo | undefined;
afterEach(async () => {
  await repo?.shutdown();
  await net?.close();
  repo = net = undefined;
});

test("a Repo and a Weft-native app share a document; whenStored waits for the log", async () => {
  net = await createTestNetwork({ devices: 2 });
  const [laptop, phone] = net.replicas;
  const folder = new WeftNetworkAdapter({ replica: laptop! });
  repo = new Repo({ network: [folder] });
  const handle = repo.create<{ n: number }>({ n: 1 });
  await folder.whenStored(handle);
  await net.settle();

  const native = await phone!.automerge<{ n: number }>(`automerge-repo/${handle.documentId}`);
  expect(native.doc().n).toBe(1);
  // The phone changes it while cut off; the laptop waits for exactly those heads.
  net.partition([0], [1]);
  await native.change((d) => {
    d.n = 2;
  });
  let stored = false;
  const waiting = folder
    .whenStored({ documentId: handle.documentId, doc: () => native.doc() })
    .then(() => (stored = true));
  await net.settle();
  expect(stored).toBe(false);
  net.heal();
  await waiting;
  await net.settle();
  expect(handle.doc().n).toBe(2); // and the Repo got it from the folder
  expect(A.getHeads(handle.doc())).toEqual(A.getHeads(native.doc()));
});
