/**
 * NatsBus: the bus between relays over NATS core pub/sub. One subject per folder,
 * `weft.f.<folder id>`, subscribed while the folder has a local subscriber, carries its entries
 * (seq and envelope) and its presence and ephemeral frames; `weft.relay` carries control events
 * to every relay. Nothing is kept by NATS: the database is the truth, and a relay that was cut
 * off reads what it missed from it (every second while NATS is down, and once it is back).
 */
import { randomBytes } from "node:crypto";
import type { DeviceId, FolderId } from "@weft/crypto";
import { isFolderId } from "@weft/crypto";
import { type NatsConnection, type Subscription, Events, connect } from "nats";
import { type BusHandlers, type ControlEvent, type RelayBus, describeBus } from "./bus.js";

const FOLDER_SUBJECT = "weft.f.";
const CONTROL_SUBJECT = "weft.relay";
/** Every relay's id, every HEARTBEAT_MS: one not heard for GONE_AFTER_MS is gone. */
const HEARTBEAT_SUBJECT = "weft.hb";
const HEARTBEAT_MS = 2000;
const GONE_AFTER_MS = 3 * HEARTBEAT_MS;
/** At most how long a new subscriber waits for NATS to confirm the relay listens to its folder. */
const FLUSH_WAIT_MS = 1000;
/** How often a relay cut off from NATS reads its watched folders from the store. */
const RESYNC_WHILE_DOWN_MS = 1000;
/** Ping settings: a connection that stopped answering is noticed after PING_MS × MAX_PING_OUT. */
const PING_MS = 5000;
const MAX_PING_OUT = 2;
/**
 * How far back, from when it noticed the loss, a relay back on the bus re-announces the folders
 * it appended to: what it published while cut off (or into a connection not yet known dead)
 * never reached the others.
 */
const UNSURE_MS = PING_MS * MAX_PING_OUT + RESYNC_WHILE_DOWN_MS;

const ENTRY = 1;
/** A presence or ephemeral frame: the relay's id, the device id's length and the id, the frame. */
const BROADCAST = 2;
/** An entry too large for the bus: only its seq travels, the envelope is read from the store. */
const NOTICE = 3;
/** A relay got its first subscriber of the folder: the others send their devices' presence. */
const ROLL_CALL = 4;
/** Bytes of a relay's id (random per process) in BROADCAST and ROLL_CALL. */
const RELAY_ID_BYTES = 8;

/** What the relay logs about the bus. */
export interface BusLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * Connects to NATS at `servers` (one URL or several, comma-separated).
 * @throws Error naming the servers when none answers
 */
export async function connectNatsBus(
  servers: string,
  relayName: string,
  handlers: BusHandlers,
  log: BusLog,
): Promise<RelayBus> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: servers.split(","),
      name: relayName,
      // A relay's own messages do not come back to it: it delivered them already.
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: PING_MS,
      maxPingOut: MAX_PING_OUT,
    });
  } catch (error) {
    throw new Error(`cannot reach the bus at ${describeBus(servers)}: ${(error as Error).message}`);
  }
  return new NatsBus(nc, handlers, log);
}

class NatsBus implements RelayBus {
  private readonly folders = new Map<FolderId, Subscription>();
  private readonly control: Subscription;
  private down: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** This relay's id on the bus, new each start (other relays keep presence per relay). */
  private readonly id = randomBytes(RELAY_ID_BYTES);
  /** When each other relay was last heard (ms since the epoch), by its id in hex. */
  private readonly heard = new Map<string, number>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly beats: Subscription;
  /**
   * The last seq this relay published per folder and when (ms since the epoch), kept for
   * {@link UNSURE_MS}: re-announced when the bus comes back.
   */
  private readonly published = new Map<FolderId, { seq: number; at: number }>();
  /** When this relay last noticed it lost the bus (ms since the epoch). */
  private lostAt = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly handlers: BusHandlers,
    private readonly log: BusLog,
  ) {
    this.control = nc.subscribe(CONTROL_SUBJECT, {
      callback: (error, msg) => {
        if (error) return;
        const event = parseControl(msg.data);
        if (event) handlers.control(event);
        else log.warn({ bytes: msg.data.byteLength }, "an unreadable control event on the bus");
      },
    });
    this.beats = nc.subscribe(HEARTBEAT_SUBJECT, {
      callback: (error, msg) => {
        if (!error && msg.data.byteLength === RELAY_ID_BYTES)
          this.heard.set(Buffer.from(msg.data).toString("hex"), Date.now());
      },
    });
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.beat();
    void this.watchStatus();
  }

  /** Says this relay is alive; declares gone the relays not heard for GONE_AFTER_MS. */
  private beat(): void {
    this.publish(HEARTBEAT_SUBJECT, this.id);
    if (this.down !== undefined) return; // cut off: silence says nothing about the others
    const now = Date.now();
    for (const [folderId, { at }] of this.published)
      if (now - at > UNSURE_MS) this.published.delete(folderId);
    for (const [relay, at] of this.heard)
      if (now - at > GONE_AFTER_MS) {
        this.heard.delete(relay);
        this.handlers.relayGone(relay);
      }
  }

  get connected(): boolean {
    return !this.nc.isClosed() && this.down === undefined;
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === Events.Disconnect && this.down === undefined && !this.closed) {
        this.log.warn(
          { server: status.data },
          "lost the bus; reading other relays' entries from the store",
        );
        this.lostAt = Date.now();
        this.down = setInterval(() => this.handlers.resync(false), RESYNC_WHILE_DOWN_MS);
        this.down.unref();
      } else if (status.type === Events.Reconnect) {
        this.log.info({ server: status.data }, "the bus is back");
        void this.back();
      }
    }
  }

  /**
   * Back on the bus. What this relay published while cut off is lost (nats.js empties its
   * outgoing buffer at each attempt to reconnect), and what others published meanwhile did not
   * reach it. So: one round trip first, after which NATS has this relay's subscriptions (nats.js
   * sends them again but does not wait for them, and a relay that read the store before NATS
   * had them would miss an entry published in between); then the store is read, the others are
   * told to read it for the folders this relay appended to lately (another relay back before
   * this one has read the store already, perhaps before those appends), and both ways of
   * presence are asked for again: the others' (roll call) and this relay's own, sent out.
   */
  private async back(): Promise<void> {
    try {
      await this.nc.flush();
    } catch {
      return; // lost again: still down (read every second), and the next Reconnect comes here
    }
    if (this.closed) return;
    if (this.down) clearInterval(this.down);
    this.down = undefined;
    // The others were not heard meanwhile through no fault of theirs.
    for (const relay of this.heard.keys()) this.heard.set(relay, Date.now());
    this.handlers.resync(true);
    for (const [folderId, { seq, at }] of this.published)
      if (at >= this.lostAt - UNSURE_MS)
        this.publish(FOLDER_SUBJECT + folderId, withSeq(NOTICE, seq, new Uint8Array()));
    for (const folderId of this.folders.keys()) {
      this.rollCall(folderId);
      this.answerRollCall(folderId);
    }
  }

  publishEntry(folderId: FolderId, seq: number, envelope: Uint8Array): void {
    const last = this.published.get(folderId);
    if (!last || last.seq < seq) this.published.set(folderId, { seq, at: Date.now() });
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    if (envelope.byteLength + 9 <= max)
      this.publish(FOLDER_SUBJECT + folderId, withSeq(ENTRY, seq, envelope));
    else this.publish(FOLDER_SUBJECT + folderId, withSeq(NOTICE, seq, new Uint8Array()));
  }

  publishBroadcast(folderId: FolderId, from: DeviceId, frame: Uint8Array): void {
    const device = new TextEncoder().encode(from);
    if (device.byteLength > 255) return;
    const head = 1 + RELAY_ID_BYTES;
    const out = new Uint8Array(head + 1 + device.byteLength + frame.byteLength);
    out[0] = BROADCAST;
    out.set(this.id, 1);
    out[head] = device.byteLength;
    out.set(device, head + 1);
    out.set(frame, head + 1 + device.byteLength);
    this.publish(FOLDER_SUBJECT + folderId, out);
  }

  private rollCall(folderId: FolderId): void {
    const out = new Uint8Array(1 + RELAY_ID_BYTES);
    out[0] = ROLL_CALL;
    out.set(this.id, 1);
    this.publish(FOLDER_SUBJECT + folderId, out);
  }

  publishControl(event: ControlEvent): void {
    this.publish(CONTROL_SUBJECT, new TextEncoder().encode(JSON.stringify(event)));
  }

  private publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    try {
      // Buffered by the client while it reconnects; other relays re-read what is lost.
      this.nc.publish(subject, data);
    } catch (error) {
      this.log.warn({ subject, err: (error as Error).message }, "a publish to the bus failed");
    }
  }

  async watch(folderId: FolderId): Promise<void> {
    if (this.closed || this.folders.has(folderId)) return;
    this.folders.set(
      folderId,
      this.nc.subscribe(FOLDER_SUBJECT + folderId, {
        callback: (error, msg) => {
          if (!error) this.received(folderId, msg.data);
        },
      }),
    );
    this.rollCall(folderId);
    // Resolved once the server has the subscription (a round trip), so that what other relays
    // publish from then on reaches this one. While NATS is away, not waited for: the store is
    // read every second meanwhile.
    if (this.down !== undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.nc.flush().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  unwatch(folderId: FolderId): void {
    this.folders.get(folderId)?.unsubscribe();
    this.folders.delete(folderId);
  }

  private received(folderId: FolderId, data: Uint8Array): void {
    if (!isFolderId(folderId) || data.byteLength < 2) return;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data[0] === ENTRY || data[0] === NOTICE) {
      if (data.byteLength < 9) return;
      const seq = view.getFloat64(1);
      if (!Number.isSafeInteger(seq) || seq < 1) return;
      if (data[0] === NOTICE) this.handlers.missed(folderId);
      else this.handlers.entry(folderId, seq, data.subarray(9));
    } else if (data[0] === BROADCAST) {
      const head = 1 + RELAY_ID_BYTES;
      const n = data[head] ?? 0;
      if (data.byteLength < head + 1 + n) return;
      const relay = Buffer.from(data.subarray(1, head)).toString("hex");
      this.heard.set(relay, Date.now());
      const from = new TextDecoder().decode(data.subarray(head + 1, head + 1 + n)) as DeviceId;
      this.handlers.broadcast(folderId, relay, from, data.subarray(head + 1 + n));
    } else if (data[0] === ROLL_CALL) this.answerRollCall(folderId);
  }

  /** Tells the other relays which devices are online in the folder through this one. */
  private answerRollCall(folderId: FolderId): void {
    this.handlers.presence(folderId).then(
      (online) => {
        for (const { from, frame } of online) this.publishBroadcast(folderId, from, frame);
      },
      () => undefined, // the store did not answer: the others hear of them when they change
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.down) clearInterval(this.down);
    this.down = undefined;
    clearInterval(this.heartbeat);
    this.control.unsubscribe();
    this.beats.unsubscribe();
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close(); // already closing or closed
    }
  }
}

/** `kind`, then `seq` as a big-endian float64 (exact for every safe integer), then `body`. */
function withSeq(kind: number, seq: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + body.byteLength);
  out[0] = kind;
  new DataView(out.buffer).setFloat64(1, seq);
  out.set(body, 9);
  return out;
}

function parseControl(data: Uint8Array): ControlEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const e = value as Record<string, unknown>;
  const str = (k: string): boolean => typeof e[k] === "string";
  switch (e["kind"]) {
    case "sessionsEnded":
      return str("accountId") &&
        str("reason") &&
        (e["deviceId"] === null || str("deviceId")) &&
        (e["family"] === undefined || str("family"))
        ? (e as ControlEvent)
        : undefined;
    case "memberRemoved":
      return isFolderId(e["folderId"]) && str("accountId") ? (e as ControlEvent) : undefined;
    case "deviceRemoved":
      return str("deviceId") && str("reason") ? (e as ControlEvent) : undefined;
    case "rotationDue":
    case "epochChanged":
      return isFolderId(e["folderId"]) ? (e as ControlEvent) : undefined;
    default:
      return undefined;
  }
}
