/** Peer awareness: the folder's other devices, whether they are online, and how far behind each is. */
import type { DeviceId } from "@weft/crypto";
import type { MessageOf } from "../protocol/messages.js";
import type { ReplicaContext } from "./context.js";
import type { PeerInfo } from "./events.js";

/** What this replica knows of its peers, from presence messages and its own log. */
export class Peers {
  private readonly peers = new Map<DeviceId, PeerInfo>();
  /** Items per applied log entry (file changes, document updates), to count what a peer lacks. */
  private readonly weights = new Map<number, number>();

  constructor(private readonly ctx: ReplicaContext) {}

  /** Records how many items log entry `seq` carried. */
  weigh(seq: number, items: number): void {
    this.weights.set(seq, items);
  }

  /** A peer's presence changed: update it and tell listeners. */
  presence(m: MessageOf<"presence">): void {
    if (m.deviceId === this.ctx.identity.deviceId) return;
    const peer = this.get(m.deviceId);
    peer.online = m.status !== "offline";
    peer.lastSeen = this.ctx.clock.now();
    peer.ackedSeq = Math.max(peer.ackedSeq, m.ackedSeq);
    peer.behind = this.behind(peer.ackedSeq);
    this.ctx.events.emit("peer", { ...peer });
  }

  /** This replica lost its connection: it no longer knows who is online. */
  allOffline(): void {
    for (const peer of this.peers.values()) peer.online = false;
  }

  /** Every peer heard of, sorted by device id, with `behind` as of now. */
  list(): PeerInfo[] {
    return [...this.peers.values()]
      .map((p) => ({ ...p, behind: this.behind(p.ackedSeq) }))
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
  }

  private get(deviceId: DeviceId): PeerInfo {
    let peer = this.peers.get(deviceId);
    if (!peer) {
      peer = { deviceId, online: false, lastSeen: 0, ackedSeq: 0, behind: 0 };
      this.peers.set(deviceId, peer);
    }
    return peer;
  }

  /** Items in log entries up to this replica's applied point that a peer at `ackedSeq` lacks. */
  private behind(ackedSeq: number): number {
    let n = 0;
    for (let s = ackedSeq + 1; s <= this.ctx.meta.appliedSeq; s++) n += this.weights.get(s) ?? 1;
    return n;
  }
}
