/**
 * The record attestations a Replica keeps: the newest of each device (from its log entries or
 * a snapshot), this device's own signed as it seals, and the checks that let a snapshot
 * vouch only for what each device signed.
 */
import type { DeviceId, DeviceIdentity, FolderId } from "@weft/crypto";
import * as Y from "yjs";
import type { FolderIndex } from "../folder/folder-index.js";
import type { StateOp } from "../storage/index.js";
import {
  type Attestation,
  RecordsDigester,
  checkAttested,
  openAttestation,
  signAttestation,
} from "./attestation.js";
import type { LocalState } from "./local-state.js";
import { SealedRecords } from "./sealed-records.js";

/**
 * The newest record attestation of each device of one folder, and this device's own.
 *
 * A snapshot is made by one member but holds every device's records. So that it cannot put
 * words in another device's mouth, it carries each writer's attestation, and a device that
 * loads it checks every writer's part against that writer's signature
 * ({@link RecordAttestations.checkSnapshot}) before merging anything.
 */
export class RecordAttestations {
  private readonly latest = new Map<DeviceId, Attestation>();
  private readonly digester: RecordsDigester;
  private readonly sealed: SealedRecords;
  /** Bumped when one is kept: a snapshot that could not be vouched for is retried after. */
  revision = 0;

  constructor(
    private readonly folderId: FolderId,
    private readonly identity: DeviceIdentity,
    index: FolderIndex,
    private readonly local: LocalState,
    stored: readonly Uint8Array[] = [],
  ) {
    this.digester = new RecordsDigester(index.doc);
    this.sealed = new SealedRecords(index.doc, identity.deviceId, this.digester);
    for (const bytes of stored) {
      try {
        this.remember(openAttestation(folderId, bytes));
      } catch {
        // One that no longer verifies (another folder's state?) is simply not vouched for.
      }
    }
  }

  /** The newest attestation kept of `device`. */
  of(device: DeviceId): Attestation | undefined {
    return this.latest.get(device);
  }

  /**
   * Signs this device's records as the log will hold them once its envelope `deviceSeq` is
   * stored, keeps that, and returns it with the op that stores it. `updates` are the index
   * updates that envelope seals; `all` says it takes the whole outbox (every record this
   * device has is then sealed). Undefined when that cannot be known (an earlier run's unsent
   * changes are still queued).
   */
  signOwn(
    deviceSeq: number,
    updates: readonly Uint8Array[],
    all: boolean,
  ): { attestation: Attestation; op: StateOp } | undefined {
    const digest = this.sealed.sealed(updates) ?? (all ? this.sealed.reset() : undefined);
    if (!digest) return undefined;
    const attestation = signAttestation(this.folderId, this.identity, deviceSeq, digest);
    this.remember(attestation);
    return { attestation, op: this.local.attestationOp(attestation.device, attestation.bytes) };
  }

  /**
   * This device's attestation for envelope `deviceSeq` over its records as `doc` holds them: a
   * strong folder's write is sealed from a copy of the index (`doc`) that the shared one joins
   * only once the relay accepts it. Not kept: {@link keepOwn} it once accepted.
   */
  signOwnOf(doc: Y.Doc, deviceSeq: number): Attestation {
    const digester = new RecordsDigester(doc);
    const digest = new SealedRecords(doc, this.identity.deviceId, digester).reset();
    return signAttestation(this.folderId, this.identity, deviceSeq, digest);
  }

  /** Keeps an attestation {@link signOwnOf} made, once its envelope is stored; returns the ops that store it. */
  keepOwn(a: Attestation): StateOp[] {
    return this.keep(a);
  }

  /**
   * Records of this device's own arrived from the log or a snapshot (written by an earlier
   * state of this device: a fresh state, a folder joined again). `allSealed`: nothing local
   * waits in the outbox, so the document is what is sealed; otherwise that is unknown until
   * everything is.
   */
  ownArrived(allSealed: boolean): void {
    if (allSealed) this.sealed.reset();
    else this.sealed.invalidate();
  }

  /**
   * The attestations a log entry of `device` (its envelope `deviceSeq`) carries: only its own
   * for that envelope counts. Returns the ops that store it; throws when it does not verify.
   */
  fromEntry(device: DeviceId, deviceSeq: number, encoded: readonly Uint8Array[]): StateOp[] {
    if (encoded.length === 0) return [];
    const a = openAttestation(this.folderId, encoded[0]!);
    if (encoded.length > 1 || a.device !== device || a.deviceSeq !== deviceSeq)
      throw new Error(`envelope ${deviceSeq} of ${device} carries another's attestation`);
    return this.keep(a);
  }

  /** Keeps the attestations a verified snapshot carried where they are newer than ours. */
  fromSnapshot(attested: ReadonlyMap<DeviceId, Attestation>): StateOp[] {
    return [...attested.values()].flatMap((a) => this.keep(a));
  }

  /**
   * What a snapshot of the index as it is now must carry: an attestation of every device
   * with records, this device's signed afresh (its unsent changes included). Undefined while
   * some device's records are not as it last signed them (its newest entry still on the way,
   * or one of its entries refused): the snapshot waits until they are.
   */
  forSnapshot(): Uint8Array[] | undefined {
    const digests = this.digester.digests();
    if (typeof digests === "string") return undefined;
    const attested = new Map(this.latest);
    const self = this.identity.deviceId;
    const mine = digests.get(self);
    if (mine) {
      const seq = this.latest.get(self)?.deviceSeq ?? 0;
      attested.set(self, signAttestation(this.folderId, this.identity, seq, mine));
    }
    if (checkAttested(digests, attested) !== undefined) return undefined;
    return [...digests.keys()].map((device) => attested.get(device)!.bytes);
  }

  /**
   * Checks a snapshot before anything of it is merged: its index update, applied alone to an
   * empty document, must hold exactly what each writer attested. Returns the writers'
   * attestations, or why the snapshot is refused.
   */
  static checkSnapshot(
    folderId: FolderId,
    update: Uint8Array,
    encoded: readonly Uint8Array[],
  ): Map<DeviceId, Attestation> | string {
    const attested = new Map<DeviceId, Attestation>();
    for (const bytes of encoded) {
      let a: Attestation;
      try {
        a = openAttestation(folderId, bytes);
      } catch (error) {
        return (error as Error).message;
      }
      if (attested.has(a.device)) return `it carries two attestations of ${a.device}`;
      attested.set(a.device, a);
    }
    const scratch = new Y.Doc({ gc: false });
    try {
      Y.applyUpdate(scratch, update);
    } catch {
      return "its index update is malformed";
    }
    return checkAttested(new RecordsDigester(scratch).digests(), attested) ?? attested;
  }

  private keep(a: Attestation): StateOp[] {
    const held = this.latest.get(a.device);
    if (held && held.deviceSeq > a.deviceSeq) return [];
    this.remember(a);
    return [this.local.attestationOp(a.device, a.bytes)];
  }

  private remember(a: Attestation): void {
    this.latest.set(a.device, a);
    this.revision++;
  }
}
