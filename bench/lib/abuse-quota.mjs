// Attack 4 of issue 21, "quota bypass and disk fill", against a relay process: one account
// tries to store more than its quotas allow by spreading over many folders, by unfinished
// uploads, by log appends and by an oversized snapshot (at an epoch the folder has not reached,
// then at its own). Each part uses an account of its own, so each is bounded by the account
// quota alone; the figures are what the relay accepted next to the quota, and how much the
// relay's data directory grew.
//
// API
//   QUOTA_ENV: the relay's environment for the attack (start the relay with it)
//   attackQuota({ url, dataDir, quick? }) → Promise<figures>
//       url: the relay's http://host:port; dataDir: its --data directory (to measure growth).
//
// Standalone: `node bench/lib/abuse-quota.mjs [--quick]` starts a relay with QUOTA_ENV, runs
// the attack and prints the figures as JSON (after `npm run build`).
import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
  toBase64Url,
} from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { WebSocket } from "ws";

const KiB = 1024;
const MiB = 1024 * KiB;

/** The limits the attack runs against: the 1 MiB folder quota, and 4 MiB per account. */
export const QUOTA_ENV = Object.freeze({
  WEFT_RELAY_FOLDER_QUOTA: "1MiB",
  WEFT_RELAY_ACCOUNT_QUOTA: "4MiB",
  WEFT_RELAY_ACCOUNT_FOLDERS: "100",
  WEFT_RELAY_FOLDER_LOG_ENTRIES: "1000",
  WEFT_RELAY_FOLDER_LOG_BYTES: "2MiB",
});
const ACCOUNT_QUOTA = 4 * MiB;

/** Runs the attack; resolves with what the relay accepted of each part, next to the quotas. */
export async function attackQuota({ url, dataDir, quick = false }) {
  await ready();
  const P = quick
    ? { folders: 120, burst: 40, chunkKiB: 256, partials: 16, appends: 8 }
    : { folders: 260, burst: 65, chunkKiB: 256, partials: 64, appends: 24 };
  const before = bytesUnder(dataDir);
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const who = (part) => account(url, `q-${part}-${run}`);

  // 1. Many folders, created in bursts, then chunks spread over them until refused.
  const spread = await who("spread");
  let created = [];
  for (let i = 0; i < P.folders; i += P.burst) {
    const ids = Array.from({ length: Math.min(P.burst, P.folders - i) }, () => newFolderId());
    const answers = await Promise.all(
      ids.map((folderId) => call(url, "POST", "/v1/folders", { folderId }, spread.token)),
    );
    created = created.concat(ids.filter((_, k) => answers[k].status === 201));
  }
  let stored = 0;
  let refusal;
  for (const folderId of created) {
    const bytes = randomBytes(P.chunkKiB * KiB);
    const res = await putChunk(url, spread.token, folderId, bytes);
    if (res.status === 201) stored += bytes.length;
    else {
      refusal = res.message;
      break;
    }
  }

  // 2. Unfinished uploads: the first 64 KiB of 1 MiB chunks, never finished.
  const partial = await who("partial");
  const folderId = newFolderId();
  await call(url, "POST", "/v1/folders", { folderId }, partial.token);
  const partialAnswers = [];
  for (let i = 0; i < P.partials; i++)
    partialAnswers.push(
      await putChunk(
        url,
        partial.token,
        folderId,
        randomBytes(64 * KiB),
        `bytes 0-${64 * KiB - 1}/${MiB}`,
      ),
    );
  const partialsHeld = partialAnswers.filter((a) => a.status === 202).length;
  const partialUsed = (
    await call(url, "GET", `/v1/folders/${folderId}/blobs`, undefined, partial.token)
  ).json;

  // 3. The log: 1 MiB appends; 4. a 16 MiB snapshot at an epoch the folder has not reached,
  // then at its own.
  const logger = await who("log");
  await call(url, "POST", "/v1/folders", { folderId: logger.folderId }, logger.token);
  const session = await socket(url, logger.token);
  let appended = 0;
  let logRefusal;
  for (let i = 1; i <= P.appends; i++) {
    const envelope = encodeEnvelope(
      sealEnvelope(
        { folderId: logger.folderId, deviceId: logger.device.deviceId, deviceSeq: i, epoch: 0 },
        randomBytes(32),
        logger.device.signSecretKey,
        randomBytes(MiB - 4 * KiB),
      ),
    );
    const m = await session.request({ type: "append", folderId: logger.folderId, envelope });
    if (m.type === "appended") appended++;
    else logRefusal ??= `${m.code}: ${m.message}`;
  }
  const snapshot = (epoch) =>
    session.request({
      type: "snapshotPut",
      folderId: logger.folderId,
      epoch,
      coversSeq: 0,
      ciphertext: randomBytes(16 * MiB),
    });
  const futureEpoch = await snapshot(5);
  const ownEpoch = await snapshot(0);
  session.close();

  return {
    quotas: { ...QUOTA_ENV },
    folders: { attempted: P.folders, created: created.length, limit: 100 },
    spread: {
      chunkKiB: P.chunkKiB,
      storedBytes: stored,
      accountQuota: ACCOUNT_QUOTA,
      folders: Math.ceil(stored / (P.chunkKiB * KiB)),
      refusal,
    },
    partialUploads: {
      attempted: P.partials,
      held: partialsHeld,
      declaredBytes: partialsHeld * MiB,
      folderReports: partialUsed,
      refusal: partialAnswers.find((a) => a.status !== 202)?.message,
    },
    log: {
      appendsOf1MiB: P.appends,
      appended,
      refusal: logRefusal,
    },
    snapshot16MiB: {
      atFutureEpoch: futureEpoch.type === "error" ? futureEpoch.code : futureEpoch.type,
      atOwnEpoch: ownEpoch.type === "error" ? `${ownEpoch.code}: ${ownEpoch.message}` : "ok",
    },
    dataDirGrowthMiB: Math.round(((bytesUnder(dataDir) - before) / MiB) * 10) / 10,
  };
}

/** Registers `user` with a device and logs in; its token, device and a fresh folder id. */
async function account(url, user) {
  const device = generateDeviceIdentity();
  const password = `${user}-correct-horse`;
  const reg = await call(url, "POST", "/v1/auth/register", { user, password });
  if (reg.status !== 201) throw new Error(`register ${user}: ${reg.status}`);
  const login = await call(url, "POST", "/v1/auth/login", {
    user,
    password,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  return { device, token: login.json.accessToken, folderId: newFolderId() };
}

async function call(url, method, path, body, token) {
  const res = await globalThis.fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text.startsWith("{") ? JSON.parse(text) : {} };
}

async function putChunk(url, token, folderId, bytes, range) {
  const id = randomBytes(32).toString("hex");
  const res = await globalThis.fetch(`${url}/v1/folders/${folderId}/blobs/${id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, ...(range ? { "content-range": range } : {}) },
    body: bytes,
  });
  const text = await res.text();
  const error = text.startsWith("{") ? JSON.parse(text).error : undefined;
  return { status: res.status, message: error ? `${error.code}: ${error.message}` : undefined };
}

/** A socket authenticated at its upgrade; `request(m)` sends m and resolves with its answer. */
async function socket(url, token) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/ws`, ["weft", `weft.bearer.${token}`], {
    perMessageDeflate: false,
  });
  const waiters = new Map();
  ws.on("message", (data) => {
    const m = decodeMessage(new Uint8Array(data));
    const id = m.requestId ?? -1;
    waiters.get(id)?.(m);
    waiters.delete(id);
  });
  ws.on("error", () => undefined);
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  let next = 1;
  const request = (m) => {
    const requestId = next++;
    const answer = new Promise((resolve) => waiters.set(requestId, resolve));
    ws.send(encodeMessage({ ...m, requestId }));
    return answer;
  };
  ws.send(
    encodeMessage({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "b", version: "1" },
    }),
  );
  const auth = await request({ type: "auth", token });
  if (auth.type !== "ok") throw new Error(`auth: ${auth.type}`);
  return { request, close: () => ws.close() };
}

/** Bytes of the files under `dir` (the relay's database, WAL and chunk files). */
function bytesUnder(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { startRelay } = await import("./weft.mjs");
  const { removeDir, scratchDir } = await import("./run.mjs");
  const dir = scratchDir("weft-bench-quota-", 512 * MiB);
  const relay = await startRelay({ dir, env: QUOTA_ENV });
  try {
    const figures = await attackQuota({
      url: relay.url,
      dataDir: relay.dataDir,
      quick: process.argv.includes("--quick"),
    });
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    await relay.stop();
    removeDir(dir);
  }
  process.exit(0);
}
