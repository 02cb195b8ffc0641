/** Multi-value registers under version vectors: current versions, the winner, history merging. */
import type { DeviceId } from "@weft/crypto";
import type { VersionVector } from "../model/version-vector.js";
import { fitName, splitExtension } from "../model/path.js";
import {
  type ContentVersion,
  type VersionSnapshot,
  lwwCompare,
  snapshotOf,
  versionId,
} from "./records.js";

/** How much history each file keeps. Conflict copies are never trimmed. */
export interface RetentionPolicy {
  /** Versions kept per file, newest first. Default 20. */
  maxVersions: number;
  /** Versions older than this (by their own timestamp) are dropped when a file is written. Default 30 days. */
  maxAgeMs: number;
}

/** The default retention: 20 versions, 30 days. */
export const DEFAULT_RETENTION: RetentionPolicy = {
  maxVersions: 20,
  maxAgeMs: 30 * 24 * 3600 * 1000,
};

/**
 * The versions of one register that no other version dominates: the register's current
 * values. Duplicates (the same version seen twice) collapse to one, deterministically.
 */
export function currentVersions<T extends { vv: VersionVector; device: DeviceId }>(
  versions: readonly T[],
): T[] {
  if (versions.length <= 1) return versions.slice(); // most files: one version, nothing to compare
  const out: T[] = [];
  for (const v of versions) {
    let keep = true;
    for (const w of versions) {
      if (w === v) continue;
      const o = w.vv.compare(v.vv);
      if (o === "greater") {
        keep = false;
        break;
      }
      // Equal vectors are the same version; keep the one whose author sorts first.
      if (
        o === "equal" &&
        (w.device < v.device ||
          (w.device === v.device && versions.indexOf(w) < versions.indexOf(v)))
      ) {
        keep = false;
        break;
      }
    }
    if (keep) out.push(v);
  }
  return out;
}

/**
 * The winner among concurrent content versions: a version that keeps the file beats a
 * deletion (modify beats delete, so nothing is lost), then last-writer-wins on (hlc, device).
 */
export function pickWinner(versions: readonly ContentVersion[]): ContentVersion | undefined {
  let best: ContentVersion | undefined;
  for (const v of versions) {
    if (!best) best = v;
    else if (best.deleted !== v.deleted) best = v.deleted ? best : v;
    else if (lwwCompare(v, best) > 0) best = v;
  }
  return best;
}

/** True for versions with bytes worth keeping (a deletion or a directory has none). */
export function carriesContent(v: { kind: string; deleted?: boolean }): boolean {
  return v.kind !== "dir" && v.deleted !== true;
}

/**
 * The unresolved conflicts of a file as every replica sees them: the current losers plus the
 * conflicts that current versions carry, minus any that a current version already put in its
 * history (someone resolved it, or its author superseded it).
 */
export function openConflicts(
  current: readonly ContentVersion[],
  winner: ContentVersion,
): VersionSnapshot[] {
  if (winner.deleted) return [];
  if (current.length === 1 && winner.conflicts.length === 0) return []; // the common case, fast
  // A carried conflict is settled when a current version that has seen it (its vector
  // dominates the conflict's) lists it in its history: someone resolved it, or its author
  // superseded it. A current version itself is never settled by anyone's history.
  const settled = new Set<string>();
  for (const v of current) {
    for (const h of v.history) if (v.vv.dominates(h.vv)) settled.add(versionId(h));
  }
  const seen = new Set<string>([versionId(winner)]);
  const out: VersionSnapshot[] = [];
  for (const v of current) {
    if (v === winner || !carriesContent(v) || seen.has(versionId(v))) continue;
    seen.add(versionId(v));
    out.push(snapshotOf(v));
  }
  for (const v of current) {
    for (const c of v.conflicts) {
      const id = versionId(c);
      if (seen.has(id) || settled.has(id) || !carriesContent(c)) continue;
      seen.add(id);
      out.push(snapshotOf(c));
    }
  }
  return out.sort((a, b) => lwwCompare(b, a));
}

/**
 * The history of a new version: `fresh` (what this very write supersedes or settles) is always
 * kept, so a version that was current a moment ago can never fall out of history; `inherited`
 * (the histories of the superseded versions) is trimmed by the retention policy, by each
 * version's own time, and fills up to `maxVersions`. Unique by version, newest first.
 */
export function mergeHistory(
  fresh: readonly VersionSnapshot[],
  inherited: readonly (readonly VersionSnapshot[])[],
  nowWall: number,
  retention: RetentionPolicy,
): VersionSnapshot[] {
  const byId = new Map<string, VersionSnapshot>();
  for (const v of fresh) if (!byId.has(versionId(v))) byId.set(versionId(v), v);
  const room = Math.max(0, retention.maxVersions - byId.size);
  const older = new Map<string, VersionSnapshot>();
  for (const list of inherited) {
    for (const v of list) {
      const id = versionId(v);
      if (!byId.has(id) && !older.has(id) && nowWall - v.hlc.wall <= retention.maxAgeMs)
        older.set(id, v);
    }
  }
  const kept = [...older.values()].sort((a, b) => lwwCompare(b, a)).slice(0, room);
  return [...byId.values(), ...kept].sort((a, b) => lwwCompare(b, a));
}

/**
 * The name of a conflict copy, the same on every replica:
 * `name.sync-conflict-YYYYMMDD-HHMMSS-<device>.ext`, from the losing version's own timestamp
 * (UTC) and the first seven characters of its device id; `n` > 1 numbers the copies of one
 * device and second that want the same name (`…-<device>-2.ext`).
 */
export function conflictCopyName(
  name: string,
  loser: { hlc: { wall: number }; device: string },
  n = 1,
): string {
  const d = new Date(loser.hlc.wall);
  const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
  const stamp = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  const short = loser.device.replace(/-/g, "").slice(0, 7);
  const { stem, ext } = splitExtension(name);
  return fitName(stem, `.sync-conflict-${stamp}-${short}${n > 1 ? `-${n}` : ""}`, ext);
}
