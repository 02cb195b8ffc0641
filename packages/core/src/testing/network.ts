/**
 * createTestNetwork: n replicas of one folder over an in-memory hub that stands in for the
 * relay (same protocol, same sealing, only ciphertext), with partitions, crashes and settle().
 * For Weft's own tests and for apps that embed the engine. Does not import vitest.
 */
import {
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  deviceIdentityFromSeeds,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { WeftError } from "../errors.js";
import { Replica, type ReplicaOptions } from "../replica/replica.js";
import type { BlobStore, StateOp, StateStore } from "../storage/index.js";
import { MemoryBlobStore, MemoryStateStore } from "../storage/index.js";
import { MemoryHub } from "./hub.js";
import { seededRandom } from "./scheduler.js";

/** Options of {@link createTestNetwork}. */
export interface TestNetworkOptions {
  /** Number of replicas (devices), 1 to 32. */
  devices: number;
  /** Seed of the hub's delivery order and of the device keys; random by default (see `seed`). */
  seed?: number;
  /** Probability that the hub delivers a batch of envelopes twice (default 0). */
  duplicateRate?: number;
  /** Probability that the hub delivers a batch of envelopes after the next one (default 0). */
  reorderRate?: number;
  /**
   * Wraps device `i`'s state store, e.g. to make it fail as a full disk would. Applied each
   * time the replica opens (also after `crash(i)`).
   */
  wrapState?: (device: number, store: StateStore) => StateStore;
  /** Extra replica options (e.g. `snapshotEvery`, `download`, `chunking`). */
  replica?: Partial<
    Omit<
      ReplicaOptions,
      "identity" | "folderId" | "keyring" | "state" | "blobs" | "connect" | "token" | "remoteBlobs"
    >
  >;
}

/** What {@link createTestNetwork} returns. */
export interface TestNetwork {
  /** The replicas, one per device; `crash(i)` replaces entry i with the reopened replica. */
  readonly replicas: Replica[];
  /** The hub, to inspect what it stores (ciphertext) and what crossed it. */
  readonly hub: MemoryHub;
  /** The folder. */
  readonly folderId: FolderId;
  /** The seed in use: print it when a test fails, pass it back to replay the delivery order. */
  readonly seed: number;
  /**
   * Cuts the network in two. The hub stands where the relay would, so the group `a` keeps it
   * and every replica of `b` goes offline: each keeps working locally and syncs after `heal()`.
   * Replicas are given by index. Each partition is two days on the hub's clock, past its one-day
   * silent-device limit: a device that has not acked since stops holding back pruning.
   */
  partition: (a: readonly number[], b: readonly number[]) => void;
  /** Brings every replica back online. */
  heal: () => void;
  /**
   * Kills replica `i` as a crash would (no flush, nothing written after the moment of death),
   * then reopens it from its StateStore and BlobStore. Resolves with the new replica.
   */
  crash: (i: number) => Promise<Replica>;
  /** Delivers everything pending and resolves when every replica is idle. */
  settle: (options?: { timeoutMs?: number }) => Promise<void>;
  /** Stops every replica and closes the hub. */
  close: () => Promise<void>;
}

const DAY_MS = 24 * 3600 * 1000;

/** Creates a {@link TestNetwork}. */
export async function createTestNetwork(options: TestNetworkOptions): Promise<TestNetwork> {
  await ready();
  const n = options.devices;
  if (!Number.isInteger(n) || n < 1 || n > 32)
    throw new WeftError("INVALID_OPTIONS", "devices must be an integer from 1 to 32");
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  // The hub's clock stands still but for partitions: each is two days passing, past the hub's
  // one-day limit for silent devices. So a device that has not acked since the last partition
  // stops holding back the log's pruning (the relay's --prune-silent-after), and one cut off
  // that comes back after the others pruned must load the snapshot before the log's tail.
  let days = 0;
  const hub = new MemoryHub({
    seed,
    duplicateRate: options.duplicateRate ?? 0,
    reorderRate: options.reorderRate ?? 0,
    now: () => days * DAY_MS,
    silentDeviceMs: DAY_MS,
  });
  const random = seededRandom(seed ^ 0x5eed);
  const bytes = (k: number): Uint8Array =>
    Uint8Array.from({ length: k }, () => Math.floor(random() * 256));
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());

  const devices: { identity: DeviceIdentity; state: MemoryStateStore; blobs: MemoryBlobStore }[] =
    [];
  for (let i = 0; i < n; i++) {
    const identity = deviceIdentityFromSeeds(bytes(32), bytes(32));
    hub.addMember(folderId, identity.signPublicKey);
    devices.push({ identity, state: new MemoryStateStore(), blobs: new MemoryBlobStore() });
  }
  const lives: Life[] = [];
  const openReplica = async (i: number): Promise<Replica> => {
    const d = devices[i]!;
    const life = new Life();
    lives[i] = life;
    const replica = await Replica.open({
      ...options.replica,
      reconnectDelayMs: options.replica?.reconnectDelayMs ?? { min: 5, max: 50 },
      identity: d.identity,
      folderId,
      keyring,
      state: life.state(options.wrapState ? options.wrapState(i, d.state) : d.state),
      blobs: life.blobs(d.blobs),
      connect: () => hub.connect(),
      token: hub.tokenFor(d.identity.deviceId),
      remoteBlobs: hub.blobClient(d.identity.deviceId),
    });
    replica.start();
    return replica;
  };
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) replicas.push(await openReplica(i));
  const online = new Set(replicas.map((_, i) => i));

  const network: TestNetwork = {
    replicas,
    hub,
    folderId,
    seed,
    partition: (a, b) => {
      days += 2;
      for (const i of a) if (!online.has(i)) network.heal();
      for (const i of b) {
        online.delete(i);
        hub.setOnline(devices[i]!.identity.deviceId, false);
      }
    },
    heal: () => {
      for (let i = 0; i < n; i++) {
        online.add(i);
        hub.setOnline(devices[i]!.identity.deviceId, true);
      }
    },
    crash: async (i) => {
      const old = replicas[i];
      if (!old) throw new WeftError("INVALID_ARGUMENT", `no replica ${i}`);
      lives[i]!.kill();
      old.stop();
      replicas[i] = await openReplica(i);
      return replicas[i];
    },
    settle: async ({ timeoutMs = 60_000 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      let quiet = 0;
      while (quiet < 2) {
        // The hub is drained while the replicas sync (it holds back pushes when reordering),
        // and the wait is bounded, so a replica that never gets idle ends in the diagnostic
        // below, not a hang.
        let syncing = true;
        void Promise.all(
          replicas.map((r, i) =>
            online.has(i) ? r.syncOnce().catch(() => undefined) : Promise.resolve(),
          ),
        ).finally(() => (syncing = false));
        while (syncing && Date.now() < deadline) {
          await hub.drain();
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await hub.drain();
        await new Promise((resolve) => setImmediate(resolve));
        const done =
          hub.pendingFrames === 0 &&
          replicas.every((r, i) => r.idle && (!online.has(i) || r.status === "online"));
        quiet = done ? quiet + 1 : 0;
        if (Date.now() > deadline) {
          const states = replicas.map(
            (r, i) => `#${i} ${r.status} idle=${r.idle} ${JSON.stringify(r.stats())}`,
          );
          throw new WeftError(
            "INVALID_OPTIONS",
            `settle() timed out (seed ${seed}): ${states.join("; ")}`,
          );
        }
      }
    },
    close: async () => {
      for (const r of replicas) await r.close();
      hub.close();
    },
  };
  return network;
}

/**
 * One run of a replica's process: its stores go dead when it is killed, so nothing the old
 * replica still had in flight reaches the stores afterwards, as after a real crash.
 */
class Life {
  private dead = false;

  kill(): void {
    this.dead = true;
  }

  state(store: StateStore): StateStore {
    const check = (): void => {
      if (this.dead) throw new WeftError("STORAGE", "the process was killed");
    };
    const guard =
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        check();
        return fn(...args);
      };
    return {
      load: guard((key: readonly string[]) => store.load(key)),
      save: guard((key: readonly string[], data: Uint8Array) => store.save(key, data)),
      remove: guard((key: readonly string[]) => store.remove(key)),
      loadRange: guard((prefix: readonly string[]) => store.loadRange(prefix)),
      removeRange: guard((prefix: readonly string[]) => store.removeRange(prefix)),
      transaction: guard((ops: readonly StateOp[]) => store.transaction(ops)),
      close: () => Promise.resolve(),
    };
  }

  blobs(store: BlobStore): BlobStore {
    const check = (): void => {
      if (this.dead) throw new WeftError("STORAGE", "the process was killed");
    };
    return {
      has: async (ids) => (check(), store.has(ids)),
      put: async (id, bytes) => (check(), store.put(id, bytes)),
      get: async (id, range) => (check(), store.get(id, range)),
      delete: async (ids) => (check(), store.delete(ids)),
      size: async () => (check(), store.size()),
      close: () => Promise.resolve(),
    };
  }
}
