/** Telling "you were removed" apart from other refusals: the relay is asked once, and the answer kept in folders.json. */
import type { DeviceIdentity, FolderId } from "@weft/crypto";
import type { AccountLogin } from "../account/index.js";
import type { FolderRecord, Home } from "../home/index.js";

/** Why and when this device lost a folder. */
export type Removal = NonNullable<FolderRecord["removed"]>;

/** Whether `error` is the relay's `forbidden` (core's ProtocolError or the agent's RELAY error). */
export function isForbidden(error: unknown): boolean {
  return (error as { wireCode?: unknown } | null)?.wireCode === "forbidden";
}

/**
 * Asks the relay whether this device still has the folder. When the relay refuses (the account
 * is no member any more, or this device was removed from its account), records that in
 * folders.json and returns it; otherwise (a member still, or the relay unreachable) undefined.
 */
export async function confirmRemoved(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
  now: () => number = Date.now,
): Promise<Removal | undefined> {
  try {
    await session.account(identity).folder(folderId);
    return undefined;
  } catch (error) {
    if (!isForbidden(error)) return undefined;
    const reason = /device was removed/.test((error as Error).message)
      ? "this device was removed from its account"
      : "you were removed from this folder";
    const at = now();
    return (await home.markRemoved(folderId, reason, at))?.removed ?? { at, reason };
  }
}
