// Members and devices with real agents and a real relay, through the `weft` CLI (issue 15):
// removing a member changes the key at once and the removed member, with everything they could
// keep (their device keys, every old folder key, a copy of the relay's data directory taken
// after the removal), opens nothing written since; the other members' running daemons adopt the
// new key and write under it; invites work again after a removal; a removal made through the
// API alone is completed by the owner's next start; the last owner stays; a removed member's
// agent stops and says so; and removing a lost device cuts it off and changes the key.
import { cp, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import type { ChildProcess } from "node:child_process";
import Database from "better-sqlite3";
import {
  type ChunkId,
  type DeviceIdentity,
  type FolderId,
  decodeEnvelope,
  decryptEnvelopeUnverified,
  deriveEpochLinkKeys,
  deriveFolderSubkeys,
  fromBase64Url,
  openChunk,
  ready,
  sealedChunkEpoch,
  unwrapKeyForDevice,
  xchachaOpen,
} from "@weft/crypto";
import { decodeEpochRecord } from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AccountLogin } from "../src/account/index.js";
import { Home } from "../src/home/index.js";
import {
  type Device,
  type RelayProcess,
  enroll,
  enrollAs,
  killHard,
  makeDevice,
  startRelayProcess,
  waitFor,
  writeSettled,
} from "@weft/test-support";

let relay: RelayProcess;
type TestDevice = Device & { dispose(): Promise<void> };
let ana: TestDevice;
let bob: TestDevice;
let carol: TestDevice;
let folderId: string;
const daemons: ChildProcess[] = [];

/** Marks written after bob's removal: no key bob could hold may reveal any of them. */
const SECRET_NAME = "after-removal-plans-q7x3.txt";
const SECRET_TEXT = "the secret written after bob left: k9w2m4";
const CAROL_NAME = "carol-after-removal-z8v1.txt";
const CAROL_TEXT = "carol wrote this after bob left: p3j6t0";

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
  [ana, bob, carol] = await Promise.all([
    makeDevice("ana"),
    makeDevice("bob"),
    makeDevice("carol"),
  ]);
  await Promise.all([ana, bob, carol].map((d) => enroll(d, relay.url)));
}, 60_000);

afterAll(async () => {
  for (const d of daemons) await killHard(d);
  await Promise.all([ana, bob, carol].map((d) => d?.dispose()));
  await relay?.dispose();
});

async function invite(owner: Device, guest: Device, role = "editor"): Promise<void> {
  const { invite } = await owner.ok(["folder", "invite", folderId, "--role", role]);
  await guest.ok(["folder", "join", "-", guest.folder], { input: `${invite as string}\n` });
}

/** Starts `weft sync` (the daemon) on `device`. */
function daemon(device: Device): ChildProcess {
  const child = device.spawn(["sync"]);
  child.stdout?.resume();
  child.stderr?.resume();
  daemons.push(child);
  return child;
}

/** The first folder of `weft status --json`. */
async function status(device: Device): Promise<Record<string, unknown>> {
  const json = await device.ok(["status"]);
  return (json["folders"] as Record<string, unknown>[])[0]!;
}

/** The device's identity and every folder key it holds, read from its WEFT_HOME. */
async function keysOf(device: Device): Promise<{ identity: DeviceIdentity; keys: Uint8Array[] }> {
  const home = new Home(device.home);
  const identity = await home.device();
  const stored = JSON.parse(
    await readFile(join(home.folderDir(folderId as FolderId), "keys.json"), "utf8"),
  ) as { epoch: number; wrapped: string }[];
  const keys = stored.map((k) =>
    unwrapKeyForDevice(fromBase64Url(k.wrapped), identity.boxPublicKey, identity.boxSecretKey),
  );
  return { identity, keys };
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

/**
 * Everything a set of keys opens in a copy of the relay's data directory: log envelopes and
 * snapshots of the folder, its chunks (inflated when compressed), and any key the database
 * holds that these keys (or the device's box key) unwrap, tried again with what that adds.
 */
async function everythingOpened(
  dataDir: string,
  identity: DeviceIdentity,
  held: Uint8Array[],
): Promise<{ plaintexts: Buffer[]; epochsOpened: Set<number>; keys: Uint8Array[] }> {
  const db = new Database(join(dataDir, "relay.db"), { readonly: true });
  const keys = [...held];
  const known = (k: Uint8Array) => keys.some((h) => Buffer.from(h).equals(Buffer.from(k)));
  try {
    // Keys the relay keeps: rows sealed to any device, invites, announcements' previous keys.
    const sealed = [
      ...db.prepare("SELECT blob FROM wrapped_keys").all(),
      ...db.prepare("SELECT wrapped_key AS blob FROM invites").all(),
    ] as { blob: Buffer }[];
    for (const { blob } of sealed) {
      try {
        const k = unwrapKeyForDevice(blob, identity.boxPublicKey, identity.boxSecretKey);
        if (!known(k)) keys.push(k);
      } catch {
        // not sealed to this device
      }
    }
    const records = (db.prepare("SELECT record FROM epochs").all() as { record: string }[]).map(
      (r) => decodeEpochRecord(r.record),
    );
    for (let grew = true; grew;) {
      grew = false;
      for (const r of records)
        for (const k of [...keys]) {
          try {
            const prev = xchachaOpen(
              deriveEpochLinkKeys(k, r.epoch).link,
              r.previousKey.subarray(0, 24),
              r.previousKey.subarray(24),
              new TextEncoder().encode(
                `weft-epoch/v1 link ${r.folderId} ${r.epoch} ${r.previousEpoch}`,
              ),
            );
            if (!known(prev)) {
              keys.push(prev);
              grew = true;
            }
          } catch {
            // not opened by this key
          }
        }
    }
    const plaintexts: Buffer[] = [];
    const epochsOpened = new Set<number>();
    const envelopes = [
      ...db.prepare("SELECT envelope AS bytes FROM log WHERE folder_id = ?").all(folderId),
      ...db.prepare("SELECT ciphertext AS bytes FROM snapshots WHERE folder_id = ?").all(folderId),
    ] as { bytes: Buffer }[];
    for (const { bytes } of envelopes) {
      const env = decodeEnvelope(new Uint8Array(bytes));
      for (const k of keys)
        // Every key under the envelope's epoch, and under every other epoch too.
        for (const epoch of [env.epoch, 0, 1, 2, 3]) {
          try {
            const plain = decryptEnvelopeUnverified(env, deriveFolderSubkeys(k, epoch).index);
            plaintexts.push(Buffer.from(plain));
            epochsOpened.add(env.epoch);
          } catch {
            // not this key
          }
        }
    }
    for (const path of await filesUnder(join(dataDir, "chunks", folderId))) {
      const id = path.slice(path.lastIndexOf("/") + 1);
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const sealedChunk = new Uint8Array(await readFile(path));
      const epoch = sealedChunkEpoch(sealedChunk);
      for (const k of keys) {
        try {
          const plain = openChunk(
            deriveFolderSubkeys(k, epoch).chunk,
            { chunkId: id as ChunkId, folderId: folderId as FolderId, epoch },
            sealedChunk,
          );
          plaintexts.push(
            plain[0] === 1 ? inflateRawSync(plain.subarray(1)) : Buffer.from(plain.subarray(1)),
          );
          epochsOpened.add(epoch);
        } catch {
          // not this key
        }
      }
    }
    return { plaintexts, epochsOpened, keys };
  } finally {
    db.close();
  }
}

const reveals = (plaintexts: Buffer[], marks: string[]) =>
  marks.filter((m) => plaintexts.some((p) => p.includes(Buffer.from(m))));

describe("members and devices (issue 15)", () => {
  test("a folder shared with two editors", async () => {
    await writeSettled(join(ana.folder, "before.txt"), "written before anyone left\n");
    ({ folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string });
    await ana.ok(["sync", "--once"]);
    await invite(ana, bob);
    await invite(ana, carol);
    await bob.ok(["sync", "--once"]);
    await carol.ok(["sync", "--once"]);
    expect(await readFile(join(bob.folder, "before.txt"), "utf8")).toBe(
      "written before anyone left\n",
    );
    await ana.ok(["device", "name", "ana laptop"]);
    const list = await ana.ok(["folder", "members", folderId]);
    expect(list).toMatchObject({ epoch: 0, rotationDue: false });
    expect(list["members"]).toEqual([
      {
        user: "ana",
        role: "owner",
        devices: [expect.objectContaining({ name: "ana laptop", keyEpoch: 0, current: true })],
      },
      { user: "bob", role: "editor", devices: [expect.objectContaining({ keyEpoch: 0 })] },
      { user: "carol", role: "editor", devices: [expect.objectContaining({ keyEpoch: 0 })] },
    ]);
  }, 60_000);

  test("removal changes the key at once; bob, with all he could keep, opens nothing written since", async () => {
    // Bob and carol leave their daemons running.
    daemon(bob);
    daemon(carol);
    await waitFor(async () => (await status(bob))["connection"] === "online", 20_000, "bob online");
    await waitFor(async () => (await status(carol))["connection"] === "online", 20_000, "carol");

    const removed = await ana.ok(["folder", "remove-member", folderId, "bob"]);
    expect(removed).toEqual({ folderId, user: "bob", epoch: 1, rotated: true });

    // Bob's agent is told, stops asking the relay, and keeps his copy.
    await waitFor(
      async () => (await status(bob))["state"] === "removed",
      20_000,
      "bob's agent to see the removal",
    );
    const bobStatus = await status(bob);
    expect(bobStatus).toMatchObject({
      removed: { reason: "you were removed from this folder" },
      connection: "stopped",
      nextRetryAt: null,
    });
    expect(await readFile(join(bob.folder, "before.txt"), "utf8")).toBe(
      "written before anyone left\n",
    );

    // Ana writes; carol's running daemon adopted epoch 1, reads it, and writes under it too.
    await writeSettled(join(ana.folder, SECRET_NAME), SECRET_TEXT);
    await ana.ok(["sync", "--once"]);
    await waitFor(
      async () =>
        (await readFile(join(carol.folder, SECRET_NAME), "utf8").catch(() => "")) === SECRET_TEXT,
      30_000,
      "carol's daemon to receive ana's new file",
    );
    await writeSettled(join(carol.folder, CAROL_NAME), CAROL_TEXT);
    await waitFor(
      async () => {
        await ana.ok(["sync", "--once"]);
        return (
          (await readFile(join(ana.folder, CAROL_NAME), "utf8").catch(() => "")) === CAROL_TEXT
        );
      },
      30_000,
      "ana to receive carol's new file",
    );
    // Bob's folder did not change.
    expect((await readdir(bob.folder)).sort()).toEqual(["before.txt"]);

    // A copy of the relay's data directory, taken after the removal (stopped: nothing in the WAL).
    await relay.stop();
    const copy = join(relay.dir, "copy");
    await cp(join(relay.dir, "data"), copy, { recursive: true });
    await relay.start();

    const marks = [SECRET_NAME, SECRET_TEXT, CAROL_NAME, CAROL_TEXT];
    // The check itself works: ana's keys open the new envelopes and chunks and show every mark.
    const anaKeys = await keysOf(ana);
    expect(anaKeys.keys.length).toBe(2);
    const control = await everythingOpened(copy, anaKeys.identity, anaKeys.keys);
    expect(control.epochsOpened.has(1)).toBe(true);
    expect(reveals(control.plaintexts, marks)).toEqual(marks);

    // Bob: his device keys, every folder key he held, and the relay's data.
    const bobKeys = await keysOf(bob);
    expect(bobKeys.keys.length).toBe(1);
    const stolen = await everythingOpened(copy, bobKeys.identity, bobKeys.keys);
    expect(stolen.keys.length).toBe(1); // nothing in the relay's data gave him another key
    expect(stolen.plaintexts.length).toBeGreaterThan(0); // what came before, he can read
    expect(reveals(stolen.plaintexts, ["written before anyone left"])).toHaveLength(1);
    expect([...stolen.epochsOpened]).toEqual([0]);
    expect(reveals(stolen.plaintexts, marks)).toEqual([]);
  }, 120_000);

  test("invites work again after a removal; the new member reads what came before too", async () => {
    const dave = await makeDevice("dave");
    try {
      await enroll(dave, relay.url);
      await invite(ana, dave, "viewer");
      await dave.ok(["sync", "--once"]);
      // Epoch 0 content through the chain back from the epoch 1 key the invite carried.
      expect(await readFile(join(dave.folder, "before.txt"), "utf8")).toBe(
        "written before anyone left\n",
      );
      expect(await readFile(join(dave.folder, SECRET_NAME), "utf8")).toBe(SECRET_TEXT);
    } finally {
      await dave.dispose();
    }
  }, 60_000);

  test("a removal made through the relay's API alone is completed by the owner's next start", async () => {
    const session = await AccountLogin.open(new Home(ana.home), relay.url);
    const epochBefore = (await ana.ok(["folder", "members", folderId]))["epoch"] as number;
    // A script removes carol with a bare API call: nobody makes the next key yet.
    await session.request("DELETE", `/v1/folders/${folderId}/members/carol`);
    expect(await ana.ok(["folder", "members", folderId])).toMatchObject({
      epoch: epochBefore,
      rotationDue: true,
    });
    // Carol's daemon stops too, with the same refusal.
    await waitFor(async () => (await status(carol))["state"] === "removed", 20_000, "carol");
    // Invites wait for the key; ana's next sync makes it.
    await ana.ok(["sync", "--once"]);
    expect(await ana.ok(["folder", "members", folderId])).toMatchObject({
      epoch: epochBefore + 1,
      rotationDue: false,
    });
  }, 60_000);

  test("a folder keeps at least one owner", async () => {
    const refused = await ana.run(["folder", "role", folderId, "ana", "editor", "--json"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/a folder needs at least one owner/);
    const self = await ana.run(["folder", "remove-member", folderId, "ana"]);
    expect(self.status).toBe(1);
    const members = await ana.ok(["folder", "members", folderId]);
    expect((members["members"] as { user: string; role: string }[])[0]).toMatchObject({
      user: "ana",
      role: "owner",
    });
  }, 30_000);

  test("removing a lost device cuts it off and changes the key of the folders it held", async () => {
    const laptop = await makeDevice("ana-laptop2");
    try {
      await enrollAs(laptop, relay.url, "ana");
      const { deviceId: laptopId } = await laptop.ok(["init"]);
      const { invite: text } = await ana.ok([
        "folder",
        "invite",
        folderId,
        "--to",
        laptopId as string,
      ]);
      await laptop.ok(["folder", "join", "-", laptop.folder], { input: `${text as string}\n` });
      await laptop.ok(["sync", "--once"]);
      expect(await readFile(join(laptop.folder, SECRET_NAME), "utf8")).toBe(SECRET_TEXT);
      const devices = (await ana.ok(["device", "list"]))["devices"] as {
        deviceId: string;
        name: string | null;
        current: boolean;
      }[];
      expect(devices.map((d) => [d.name, d.current])).toEqual([
        ["ana laptop", true],
        [null, false],
      ]);
      const epochBefore = (await ana.ok(["folder", "members", folderId]))["epoch"] as number;

      const removed = await ana.ok(["device", "remove", laptopId as string]);
      expect(removed).toEqual({
        deviceId: laptopId,
        folders: [
          { folderId, role: "owner", epoch: epochBefore + 1, rotated: true, pending: null },
        ],
      });
      const members = await ana.ok(["folder", "members", folderId]);
      const anaDevices = (members["members"] as { user: string; devices: unknown[] }[])[0]!;
      expect(anaDevices.devices).toHaveLength(1); // the laptop holds the key no more

      // The laptop is refused, keeps its files, says why, and cannot sign in again.
      const sync = await laptop.run(["sync", "--once", "--json"]);
      expect(sync.status).toBe(0);
      expect(await status(laptop)).toMatchObject({
        state: "removed",
        removed: { reason: "this device was removed from its account" },
      });
      expect(await readFile(join(laptop.folder, SECRET_NAME), "utf8")).toBe(SECRET_TEXT);
      const again = await laptop.run(["account", "login", "--relay", relay.url, "--user", "ana"], {
        env: { WEFT_PASSWORD: "ana-correct-horse" },
      });
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/this device was removed from its account/);
      // The one that removed it cannot remove itself.
      const self = await ana.run([
        "device",
        "remove",
        (devices[0] as { deviceId: string }).deviceId,
      ]);
      expect(self.status).toBe(1);
    } finally {
      await laptop.dispose();
    }
  }, 90_000);
});
