/**
 * The bus between relays: what one relay tells the others so that their subscribers see what
 * was written through it. The database stays the truth (the seq of an entry comes from it); the
 * bus only makes delivery prompt, and a relay that missed messages reads them from the store.
 */
import { WeftError } from "@weft/core";
import type { DeviceId, FolderId } from "@weft/crypto";

/** Something done through one relay that every relay must act on for its own connections. */
export type ControlEvent =
  /**
   * An account's sign-in (or one device's) was revoked: its connections end, and the access
   * tokens of `family` (the revoked refresh family) are refused from then on. `family` is absent
   * in events from relays older than the `fam` claim.
   */
  | {
      kind: "sessionsEnded";
      accountId: string;
      deviceId: DeviceId | null;
      reason: string;
      family?: string;
    }
  /** An account left a folder: its connections on the folder end. */
  | { kind: "memberRemoved"; folderId: FolderId; accountId: string }
  /** A device was removed from its account: its connections end. */
  | { kind: "deviceRemoved"; deviceId: DeviceId; reason: string }
  /** The folder owes a key rotation: its owners' connections end so that they make the key. */
  | { kind: "rotationDue"; folderId: FolderId }
  /** The folder moved to a new key epoch: every connection on it ends. */
  | { kind: "epochChanged"; folderId: FolderId };

/** What a relay does with what the bus brings. */
export interface BusHandlers {
  /** An entry stored through another relay (to `ProtocolServer.deliver`). */
  entry(folderId: FolderId, seq: number, envelope: Uint8Array): void;
  /** An entry stored through another relay, too large to carry: read it from the store. */
  missed(folderId: FolderId): void;
  /**
   * A presence or ephemeral frame sent through another relay, `relay` (to `relayBroadcast`).
   */
  broadcast(folderId: FolderId, relay: string, from: DeviceId, frame: Uint8Array): void;
  /**
   * Another relay got its first subscriber of the folder: the presence frames of the devices
   * online in it through this relay, which the bus sends it (`localPresence`).
   */
  presence(folderId: FolderId): Promise<{ from: DeviceId; frame: Uint8Array }[]>;
  /** Another relay, `relay`, has not been heard for a while: it is gone. */
  relayGone(relay: string): void;
  /** A control event from another relay. */
  control(event: ControlEvent): void;
  /**
   * Messages may have been missed (the bus was down, or is): every watched folder reads from
   * the store what it did not get. Called when the bus comes back (`back` true: control events
   * published meanwhile are lost too, so open sessions are checked against the store again),
   * and every second while it is down.
   */
  resync(back: boolean): void;
}

/** A connection to the bus; one per relay. */
export interface RelayBus {
  /** Tells the other relays of an entry this relay stored. */
  publishEntry(folderId: FolderId, seq: number, envelope: Uint8Array): void;
  /** Tells the other relays' subscribers of the folder a presence or ephemeral frame. */
  publishBroadcast(folderId: FolderId, from: DeviceId, frame: Uint8Array): void;
  publishControl(event: ControlEvent): void;
  /**
   * From now on the folder's messages are wanted (it has a local subscriber); the other relays
   * are asked which of its devices are online through them. Resolves once NATS has the
   * subscription (or after a second, or at once while NATS is away).
   */
  watch(folderId: FolderId): Promise<void>;
  /** The folder's messages are no longer wanted. */
  unwatch(folderId: FolderId): void;
  /** Whether the bus is connected now. */
  readonly connected: boolean;
  /** Flushes what was published and disconnects. */
  close(): Promise<void>;
}

/**
 * `--bus`: NATS URLs, comma-separated.
 * @throws WeftError INVALID_OPTIONS for anything but nats:// or tls:// URLs
 */
export function checkBusUrls(urls: string): string {
  for (const url of urls.split(",")) {
    let protocol = "";
    try {
      protocol = new URL(url).protocol;
    } catch {
      // not a URL
    }
    if (protocol !== "nats:" && protocol !== "tls:")
      throw new WeftError(
        "INVALID_OPTIONS",
        "--bus (WEFT_RELAY_BUS) is a NATS URL, nats://HOST:PORT, or several separated by commas",
      );
  }
  return urls;
}

/** `--bus` URLs as they may be shown: any user name or password in them replaced by `***`. */
export function describeBus(urls: string): string {
  return urls
    .split(",")
    .map((url) => url.replace(/^([a-z]+:\/\/)[^@/]*@/i, "$1***@"))
    .join(",");
}
