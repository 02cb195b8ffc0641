// FolderSubscribers reads a folder's acks once per turn of the event loop for presence: the
// devices joining a folder together share one store read, and an ack stored in between is seen.
import { newFolderId, ready } from "@weft/crypto";
import type { DeviceId } from "@weft/crypto";
import { expect, test } from "vitest";
import type { LogStore } from "../src/server/log-store.js";
import { FolderSubscribers } from "../src/server/subscribers.js";

test("a folder's acks are read once per turn, and again after an ack is stored", async () => {
  await ready();
  const folderId = newFolderId();
  let reads = 0;
  let acked = 0;
  const store = {
    acks: () => {
      reads++;
      return Promise.resolve(new Map([["DEV" as DeviceId, acked]]));
    },
  } as unknown as LogStore;
  const subs = new FolderSubscribers(
    store,
    () => Date.now(),
    () => undefined,
    () => false,
  );
  // Three joins in one turn: one read.
  const [a, b, c] = await Promise.all([
    subs.acks(folderId),
    subs.acks(folderId),
    subs.acks(folderId),
  ]);
  expect(reads).toBe(1);
  expect(a).toBe(b);
  expect(b).toBe(c);
  // An ack stored through this server: the next presence sees it, in the same turn.
  acked = 7;
  subs.ackStored(folderId);
  expect((await subs.acks(folderId)).get("DEV" as DeviceId)).toBe(7);
  expect(reads).toBe(2);
  // The next turn reads again (an ack stored through another relay shows then).
  await new Promise((resolve) => setImmediate(resolve));
  await subs.acks(folderId);
  expect(reads).toBe(3);
});
