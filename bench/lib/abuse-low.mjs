// bench:abuse's attacks 5 and 6 of issue 21 (the relay's side was built before; these measure
// it): an owner's garbage collection of current content, bodies of deeply nested JSON, and a
// device that stays silent while its folder's log grows. Each attack takes the bench's helpers
// (`h`: http, socket, envelope, fill, account) and returns { stop, detail } like abuse.mjs's.
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { encodeMessage } from "@weft/core";

const ATTACKER = "127.0.0.1";

/**
 * Attack 5: the owner of a folder of `chunks` current chunks (the relay runs with GC grace 0,
 * so nothing is protected by age) sends `blobs/delete` for all of them, over and over. Then a
 * device that holds them has-checks (what every device does when its session comes online):
 * the relay must report none missing (restored from the quarantine) and serve every one back.
 */
export async function attackGc(h, { chunks, chunkBytes }) {
  const owner = await h.account("gc-owner", ATTACKER);
  const path = `/v1/folders/${owner.folderId}/blobs`;
  const held = new Map();
  for (let i = 0; i < chunks; i++) {
    const bytes = randomBytes(chunkBytes);
    const id = createHash("sha256").update(bytes).digest("hex");
    held.set(id, bytes);
    const put = await h.raw("PUT", `${path}/${id}`, bytes, { from: ATTACKER, token: owner.token });
    if (put.status !== 201) throw new Error(`gc setup: PUT ${put.status}`);
  }
  const ids = [...held.keys()];
  let running = true;
  let deletes = 0;
  let deleted = 0;
  const statuses = {};
  const loop = (async () => {
    while (running) {
      const got = await h.http(
        "POST",
        `${path}/delete`,
        { ids },
        { from: ATTACKER, token: owner.token },
      );
      deletes++;
      statuses[got.status] = (statuses[got.status] ?? 0) + 1;
      deleted += got.json.deleted?.length ?? 0;
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    detail: async () => {
      // The device that holds the content comes online: has-check, then read back.
      const check = await h.http("POST", `${path}/missing`, { ids }, { token: owner.token });
      let intact = 0;
      for (const [id, bytes] of held) {
        const got = await h.raw("GET", `${path}/${id}`, undefined, { token: owner.token });
        if (got.status === 200 && Buffer.compare(got.body, bytes) === 0) intact++;
      }
      return {
        chunks,
        chunkKiB: chunkBytes / 1024,
        deleteRequests: deletes,
        deleteStatuses: statuses,
        reportedDeleted: deleted,
        missingAtHasCheck: check.json.missing?.length ?? null,
        intactAfter: intact,
      };
    },
  };
}

/** Attack 6a: bodies of `depth` nested `[` to a JSON route, as fast as they are answered. */
export async function attackNestedJson(h, { depth, parallel }) {
  const owner = await h.account("nested-json", ATTACKER);
  const body = Buffer.from("[".repeat(depth));
  let running = true;
  const statuses = {};
  const worker = async () => {
    while (running) {
      const got = await h.raw("POST", "/v1/folders", body, { from: ATTACKER, token: owner.token });
      statuses[got.status] = (statuses[got.status] ?? 0) + 1;
    }
  };
  const loops = Array.from({ length: parallel }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
    detail: () => ({ depth, bodyKiB: depth / 1024, statuses }),
  };
}

/**
 * Attack 6b: a member device subscribes, acks seq 1 and goes silent; the owner then appends
 * `entries` entries, acks them and puts a snapshot covering them, before and after the relay's
 * `--prune-silent-after` (`silentSeconds`). Counted from relay.db: entries kept each time.
 */
export async function silentDevice(h, { dataDir, silentSeconds, entries }) {
  const owner = await h.account("prune-owner", ATTACKER);
  const silent = await h.account("prune-silent", ATTACKER);
  const added = await h.http(
    "POST",
    `/v1/folders/${owner.folderId}/members`,
    { user: silent.user, role: "editor" },
    { from: ATTACKER, token: owner.token },
  );
  if (added.status !== 204) throw new Error(`silent setup: add member ${added.status}`);
  const folderId = owner.folderId;
  await h.fill(owner, 1, 256);
  const s = await h.socket(silent.token, ATTACKER);
  const subscribed = s.next((m) => m.type === "envelopes");
  s.ws.send(encodeMessage({ type: "subscribe", requestId: 2, folderId, afterSeq: 0 }));
  await subscribed;
  s.ws.send(encodeMessage({ type: "ack", folderId, seq: 1 }));
  s.ws.send(encodeMessage({ type: "ping", requestId: 3 }));
  await s.next((m) => m.type === "ok" && m.requestId === 3);
  s.ws.close();
  const silentFrom = Date.now();

  const db = new Database(join(dataDir, "relay.db"), { readonly: true });
  const kept = db.prepare("SELECT count(*) AS n FROM log WHERE folder_id = ?");
  const round = async (first) => {
    await h.fill(owner, entries, 256);
    const o = await h.socket(owner.token, ATTACKER);
    const seq = first + entries;
    o.ws.send(encodeMessage({ type: "ack", folderId, seq }));
    o.ws.send(
      encodeMessage({
        type: "snapshotPut",
        requestId: 4,
        folderId,
        epoch: 0,
        coversSeq: seq,
        ciphertext: randomBytes(1024),
      }),
    );
    await o.next((m) => m.requestId === 4);
    o.ws.close();
    await sleep(200);
    return kept.get(folderId).n;
  };
  const beforeSilent = await round(1);
  await sleep(Math.max(0, silentSeconds * 1000 + 500 - (Date.now() - silentFrom)));
  const afterSilent = await round(1 + entries);
  db.close();
  return {
    silentSeconds,
    logEntries: 1 + 2 * entries,
    keptWhileRecent: beforeSilent,
    keptAfterSilence: afterSilent,
    pruned: afterSilent < beforeSilent,
  };
}
