// The relay's blob surface against the built relay process: garbage collection with a grace
// period (and has-checks that keep a chunk alive), the id listing, the per-folder quota, and
// resumable uploads in parts, also through HttpBlobStore.
import { randomBytes } from "node:crypto";
import {
  type ChunkId,
  type FolderId,
  generateDeviceIdentity,
  newFolderId,
  ready,
} from "@weft/crypto";
import { HttpBlobStore, ProtocolError, WeftError } from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

const MiB = 1024 * 1024;
const PART = 4 * MiB;
/** A random, well-formed chunk id (the relay never checks ids against content). */
const newId = (): ChunkId => randomBytes(32).toString("hex") as ChunkId;
const idOf = (n: number): ChunkId => n.toString(16).padStart(64, "0") as ChunkId;

/** One request with a binary or JSON body; the response, not read. */
function raw(
  relay: RelayProcess,
  method: string,
  path: string,
  token: string,
  body?: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${relay.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body }),
  });
}

async function newFolder(relay: RelayProcess, owner: string): Promise<FolderId> {
  const folderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, owner)).status).toBe(201);
  return folderId;
}

/** Whether two byte arrays are equal (vitest's deep equality is far too slow for MiBs). */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function sleepUntil(time: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));
}

describe("garbage collection and quota (grace 1 s, quota 1,000 bytes)", () => {
  let relay: RelayProcess;
  let owner: string;
  let gcFolder: FolderId;
  let quotaFolder: FolderId;
  const [oldA, oldB, fresh, absent, first, second] = [
    idOf(1),
    idOf(2),
    idOf(3),
    idOf(4),
    idOf(5),
    idOf(6),
  ];
  /** When the chunks put in beforeAll are older than the grace period. */
  let agedAt: number;
  const blob = (folderId: FolderId, id: ChunkId): string => `/v1/folders/${folderId}/blobs/${id}`;

  beforeAll(async () => {
    await ready();
    relay = await startRelayProcess({
      WEFT_RELAY_GC_GRACE: "1",
      WEFT_RELAY_FOLDER_QUOTA: "1000",
    });
    owner = await signUp(relay.url, "owner", generateDeviceIdentity());
    gcFolder = await newFolder(relay, owner);
    quotaFolder = await newFolder(relay, owner);
    // The chunks that must age, put first so that one wait serves every test here.
    for (const id of [oldA, oldB])
      expect((await raw(relay, "PUT", blob(gcFolder, id), owner, new Uint8Array(100))).status).toBe(
        201,
      );
    expect(
      (await raw(relay, "PUT", blob(quotaFolder, first), owner, new Uint8Array(600))).status,
    ).toBe(201);
    agedAt = Date.now() + 1100;
  }, 60_000);

  afterAll(async () => {
    await relay?.dispose();
  });

  test("delete removes chunks older than the grace, keeps fresh and has-checked ones", async () => {
    const base = `/v1/folders/${gcFolder}/blobs`;
    // Right after the put, nothing is old enough.
    const early = await call(relay.url, "POST", `${base}/delete`, { ids: [oldA] }, owner);
    expect(early).toEqual({ status: 200, json: { deleted: [], kept: [oldA] } });
    await sleepUntil(agedAt);
    // A client decides to reuse oldB: its has-check touches it.
    const check = await call(relay.url, "POST", `${base}/missing`, { ids: [oldB, absent] }, owner);
    expect(check.json).toEqual({ missing: [absent] });
    expect((await raw(relay, "PUT", blob(gcFolder, fresh), owner, new Uint8Array(5))).status).toBe(
      201,
    );
    const gc = await call(
      relay.url,
      "POST",
      `${base}/delete`,
      { ids: [oldA, oldB, fresh, absent, oldA] },
      owner,
    );
    expect(gc).toEqual({ status: 200, json: { deleted: [oldA], kept: [oldB, fresh] } });
    expect((await call(relay.url, "GET", base, undefined, owner)).json).toEqual({
      count: 2,
      bytes: 105,
      used: 105,
      quarantined: { count: 1, bytes: 100 },
      quota: 1000,
    });
    // Deleted means quarantined: reading it (someone still references it) brings it back.
    expect((await raw(relay, "GET", blob(gcFolder, oldA), owner)).status).toBe(200);
    expect((await call(relay.url, "GET", base, undefined, owner)).json).toMatchObject({
      count: 3,
      quarantined: { count: 0, bytes: 0 },
    });
  });

  test("a PUT over the quota is 507 quota_exceeded, and fits once GC freed room", async () => {
    await sleepUntil(agedAt); // `first` is old now
    const refused = await raw(relay, "PUT", blob(quotaFolder, second), owner, new Uint8Array(600));
    expect(refused.status).toBe(507);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("quota_exceeded");
    expect(error.message).toContain("600 bytes");
    expect(error.message).toContain("1000 bytes");
    expect(error.message).toContain("garbage collection");
    // The first part of an upload that could never fit is refused up front too.
    const part = await raw(relay, "PUT", blob(quotaFolder, second), owner, new Uint8Array(10), {
      "content-range": "bytes 0-9/2000",
    });
    expect(part.status).toBe(507);
    await part.arrayBuffer();
    // Through the client: the same code, a message that says what to do, no token.
    const store = new HttpBlobStore({ baseUrl: relay.url, folderId: quotaFolder, token: owner });
    const viaClient = await store.put(second, new Uint8Array(600)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(viaClient).toBeInstanceOf(ProtocolError);
    expect((viaClient as ProtocolError).wireCode).toBe("quota_exceeded");
    expect((viaClient as Error).message).toContain(second.slice(0, 12));
    expect((viaClient as Error).message).toContain("quota");
    expect((viaClient as Error).message).not.toContain(owner);
    // GC frees the room, then the same PUT fits.
    expect(await store.collect([first, second])).toEqual({ deleted: [first], kept: [] });
    await store.put(second, new Uint8Array(600));
    expect(await store.size()).toEqual({ count: 1, bytes: 600 });
    await store.close();
  });
});

describe("listing, resumable uploads and roles (default grace and quota)", () => {
  let relay: RelayProcess;
  const tokens: Record<"owner" | "editor" | "viewer", string> = {
    owner: "",
    editor: "",
    viewer: "",
  };
  let folderId: FolderId;
  let base: string;

  beforeAll(async () => {
    await ready();
    relay = await startRelayProcess();
    for (const who of ["owner", "editor", "viewer"] as const)
      tokens[who] = await signUp(relay.url, who, generateDeviceIdentity());
    folderId = await newFolder(relay, tokens.owner);
    base = `/v1/folders/${folderId}/blobs`;
    for (const role of ["editor", "viewer"] as const)
      expect(
        (
          await call(
            relay.url,
            "POST",
            `/v1/folders/${folderId}/members`,
            { user: role, role },
            tokens.owner,
          )
        ).status,
      ).toBe(204);
  }, 60_000);

  afterAll(async () => {
    await relay?.dispose();
  });

  test("GET blobs/ids pages through the chunk ids in id order", async () => {
    const folder = await newFolder(relay, tokens.owner);
    const path = `/v1/folders/${folder}/blobs`;
    const member = { user: "viewer", role: "viewer" };
    expect(
      (await call(relay.url, "POST", `/v1/folders/${folder}/members`, member, tokens.owner)).status,
    ).toBe(204);
    // Across shards (first two and four hex digits differ), put out of order.
    const ids = [idOf(0xff), `ff${"0".repeat(62)}` as ChunkId, idOf(1), idOf(0x10000), idOf(2)];
    for (const id of ids)
      expect(
        (await raw(relay, "PUT", `${path}/${id}`, tokens.owner, Uint8Array.of(1))).status,
      ).toBe(201);
    const sorted = [...ids].sort();
    const pages: unknown[] = [];
    let after = "";
    for (;;) {
      const page = await call(
        relay.url,
        "GET",
        `${path}/ids?limit=2${after ? `&after=${after}` : ""}`,
        undefined,
        tokens.viewer,
      );
      expect(page.status).toBe(200);
      pages.push(page.json);
      const next = page.json["next"] as string | null;
      if (next === null) break;
      after = next;
    }
    expect(pages).toEqual([
      { ids: sorted.slice(0, 2), next: sorted[1] },
      { ids: sorted.slice(2, 4), next: sorted[3] },
      { ids: sorted.slice(4), next: null },
    ]);
    for (const bad of ["?limit=0", "?limit=1001", "?limit=x", "?after=nope"])
      expect(
        (await call(relay.url, "GET", `${path}/ids${bad}`, undefined, tokens.owner)).status,
      ).toBe(400);
    // HttpBlobStore.listIds pages too (its page size shrunk to 2 here, to see several pages).
    const requests: string[] = [];
    const store = new HttpBlobStore({
      baseUrl: relay.url,
      folderId: folder,
      token: tokens.viewer,
      fetch: (input, init) => {
        const url = (input as string).replace("limit=1000", "limit=2");
        requests.push(url);
        return fetch(url, init);
      },
    });
    const listed: ChunkId[] = [];
    for await (const id of store.listIds()) listed.push(id);
    expect(listed).toEqual(sorted);
    expect(requests).toHaveLength(3);
    await store.close();
  });

  test("an upload in parts: wrong offsets are 409, parts are invisible until the last", async () => {
    const id = newId();
    const data = new Uint8Array(randomBytes(2 * PART + 5));
    const total = data.length;
    const sendPart = (start: number, end: number, token = tokens.editor): Promise<Response> =>
      raw(relay, "PUT", `${base}/${id}`, token, data.subarray(start, end), {
        "content-range": `bytes ${start}-${end - 1}/${total}`,
      });

    const first = await sendPart(0, PART);
    expect([first.status, await first.json()]).toEqual([202, { received: PART }]);
    expect(
      (await call(relay.url, "GET", `${base}/${id}/upload`, undefined, tokens.owner)).json,
    ).toEqual({ received: PART, complete: false });
    // Not a chunk yet.
    expect((await raw(relay, "GET", `${base}/${id}`, tokens.viewer)).status).toBe(404);
    expect((await call(relay.url, "GET", base, undefined, tokens.viewer)).json).toMatchObject({
      count: 0,
    });
    // A part that skips ahead, or repeats the first, is 409 with the received count.
    for (const start of [2 * PART, 0]) {
      const wrong = await sendPart(start, start + 5);
      const body = (await wrong.json()) as { error: { code: string; received: number } };
      expect([wrong.status, body.error.code, body.error.received]).toEqual([409, "conflict", PART]);
    }
    // Malformed ranges are 416.
    for (const range of ["bytes 5-2/10", "bytes 0-9/5", "bytes=0-9/10", "bytes 0-99/1000"]) {
      const bad = await raw(relay, "PUT", `${base}/${id}`, tokens.editor, new Uint8Array(10), {
        "content-range": range,
      });
      expect([range, bad.status]).toEqual([range, 416]);
      await bad.arrayBuffer();
    }
    // A viewer can neither send a part nor ask how far an upload is.
    expect((await sendPart(PART, 2 * PART, tokens.viewer)).status).toBe(403);
    expect((await raw(relay, "GET", `${base}/${id}/upload`, tokens.viewer)).status).toBe(403);

    const second = await sendPart(PART, 2 * PART);
    expect([second.status, await second.json()]).toEqual([202, { received: 2 * PART }]);
    const last = await sendPart(2 * PART, total);
    expect(last.status).toBe(201);
    const whole = await raw(relay, "GET", `${base}/${id}`, tokens.viewer);
    expect(sameBytes(new Uint8Array(await whole.arrayBuffer()), data)).toBe(true);
    expect(
      (await call(relay.url, "GET", `${base}/${id}/upload`, undefined, tokens.owner)).json,
    ).toEqual({ received: total, complete: true });
    // A part of a chunk that is already stored changes nothing and says so.
    expect((await sendPart(0, PART)).status).toBe(200);
  });

  test("HttpBlobStore.put resumes after a lost part, and the bytes and ranges come back exact", async () => {
    const id = newId();
    const data = new Uint8Array(randomBytes(2 * PART + 12_345));
    const total = data.length;
    // An earlier session sent part 1 and went away.
    const part1 = await raw(relay, "PUT", `${base}/${id}`, tokens.editor, data.subarray(0, PART), {
      "content-range": `bytes 0-${PART - 1}/${total}`,
    });
    expect(part1.status).toBe(202);
    await part1.arrayBuffer();

    // This session's network loses the answer to its first part: the relay got it, the client
    // does not know, asks /upload, and goes on from there.
    const sent: string[] = [];
    let lose = true;
    const flaky: typeof fetch = async (input, init) => {
      const method = init?.method ?? "GET";
      const range = new Headers(init?.headers).get("content-range");
      const path = (input as string).slice(relay.url.length + base.length);
      sent.push(`${method} ${path} ${range ?? ""}`);
      const response = await fetch(input, init);
      if (range !== null && lose) {
        lose = false;
        await response.arrayBuffer();
        throw new TypeError("fetch failed");
      }
      return response;
    };
    const store = new HttpBlobStore({
      baseUrl: relay.url,
      folderId,
      token: tokens.editor,
      fetch: flaky,
    });
    await store.put(id, data);
    expect(sent.map((s) => s.replace(id, "ID").trim())).toEqual([
      "GET /ID/upload",
      `PUT /ID bytes ${PART}-${2 * PART - 1}/${total}`, // answer lost
      "GET /ID/upload",
      `PUT /ID bytes ${2 * PART}-${total - 1}/${total}`,
    ]);
    expect(sameBytes(await store.get(id), data)).toBe(true);
    const ranged = await raw(relay, "GET", `${base}/${id}`, tokens.viewer, undefined, {
      range: `bytes=${PART - 10}-${PART + 9}`,
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes ${PART - 10}-${PART + 9}/${total}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(data.subarray(PART - 10, PART + 10));
    expect(await store.get(id, { start: total - 100, end: total + 50 })).toEqual(
      data.subarray(total - 100),
    );
    // A fresh upload through the client with no failure, then the size adds up.
    const other = new Uint8Array(randomBytes(PART + 1));
    await store.put(newId(), other);
    expect((await store.size()).bytes).toBeGreaterThanOrEqual(total + other.length);
    await store.close();
  });

  test("HttpBlobStore.put starts over when the upload under way has another total", async () => {
    const id = newId();
    const data = new Uint8Array(randomBytes(PART + 100));
    // Someone else's unfinished upload of this id, declaring a total 1 byte longer.
    const foreign = await raw(
      relay,
      "PUT",
      `${base}/${id}`,
      tokens.editor,
      data.subarray(0, PART),
      {
        "content-range": `bytes 0-${PART - 1}/${data.length + 1}`,
      },
    );
    expect(foreign.status).toBe(202);
    await foreign.arrayBuffer();
    const store = new HttpBlobStore({ baseUrl: relay.url, folderId, token: tokens.editor });
    await store.put(id, data);
    expect(sameBytes(await store.get(id), data)).toBe(true);
    await store.close();
  });

  test("a put whose parts keep failing gives up with an error naming the chunk, not the token", async () => {
    const id = newId();
    const failing: typeof fetch = (input, init) =>
      new Headers(init?.headers).has("content-range")
        ? Promise.resolve(new Response("down", { status: 503 }))
        : fetch(input, init);
    const store = new HttpBlobStore({
      baseUrl: relay.url,
      folderId,
      token: tokens.editor,
      fetch: failing,
    });
    const error = await store.put(id, new Uint8Array(PART + 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WeftError);
    expect((error as ProtocolError).wireCode).toBe("unavailable");
    expect((error as Error).message).toContain(id.slice(0, 12));
    expect((error as Error).message).not.toContain(tokens.editor);
    await store.close();
  });

  test("a viewer cannot PUT; only an owner may delete, and the answer says what it did", async () => {
    const id = newId();
    const put = (token: string): Promise<Response> =>
      raw(relay, "PUT", `${base}/${id}`, token, Uint8Array.of(1, 2, 3));
    expect((await put(tokens.viewer)).status).toBe(403);
    expect((await put(tokens.editor)).status).toBe(201);
    const del = (token: string) => call(relay.url, "POST", `${base}/delete`, { ids: [id] }, token);
    for (const who of [tokens.viewer, tokens.editor]) {
      const refused = await del(who);
      expect([refused.status, (refused.json["error"] as { code: string }).code]).toEqual([
        403,
        "forbidden",
      ]);
    }
    // The default grace is an hour: a chunk just stored is kept.
    expect(await del(tokens.owner)).toEqual({ status: 200, json: { deleted: [], kept: [id] } });
    expect((await call(relay.url, "GET", `${base}/ids`, undefined, tokens.viewer)).status).toBe(
      200,
    );
  });
});
