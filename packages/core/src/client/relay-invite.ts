/** The invite text (`weft1:…`) that carries a folder share out of band, shared with `weft folder invite`. */
import type { DeviceId, FolderId } from "@weft/crypto";
import { fromBase64Url, isDeviceId, isFolderId, toBase64Url } from "@weft/crypto";
import { WeftError } from "../errors.js";

const INVITE_PREFIX = "weft1:";
const MAX_INVITE_CHARS = 4096;

/**
 * What an invite carries. The secret unwraps the folder key and never reaches the relay; an
 * invite made for one device (`to`) has no secret: the key is sealed to that device instead.
 * **Secret** as a whole: the invite id and an account are enough to join.
 */
export interface RelayInvite {
  /** The relay's base URL. */
  relay: string;
  folderId: FolderId;
  inviteId: string;
  secret?: string;
  to?: DeviceId;
  /**
   * `"strong"` for a strong-consistency folder (absent: eventual), so that a device joining it
   * writes as the folder requires from its first change.
   */
  consistency?: "strong";
}

/** The context an invite's wrapping is bound to, so a secret cannot unwrap another folder's key. */
export function inviteContext(folderId: FolderId, epoch: number): Uint8Array {
  return new TextEncoder().encode(`weft invite ${folderId} ${epoch}`);
}

/** An invite as text: `weft1:` and base64url of its JSON. */
export function encodeInvite(invite: RelayInvite): string {
  const { relay, folderId, inviteId, secret, to, consistency } = invite;
  const json = JSON.stringify({
    ...(secret === undefined
      ? { relay, folderId, inviteId, to }
      : { relay, folderId, inviteId, secret }),
    ...(consistency === "strong" ? { consistency } : {}),
  });
  return INVITE_PREFIX + toBase64Url(new TextEncoder().encode(json));
}

/**
 * Reads invite text (surrounding whitespace ignored). The message never quotes the text: it
 * holds a secret. @throws WeftError INVALID_ARGUMENT when it is not a whole invite
 */
export function parseInvite(text: string): RelayInvite {
  const bad = () =>
    new WeftError("INVALID_ARGUMENT", "that is not a weft invite (it starts with weft1:)");
  const trimmed = typeof text === "string" ? text.trim() : "";
  if (!trimmed.startsWith(INVITE_PREFIX) || trimmed.length > MAX_INVITE_CHARS) throw bad();
  let value: Record<string, unknown>;
  try {
    const bytes = fromBase64Url(trimmed.slice(INVITE_PREFIX.length));
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as Record<
      string,
      unknown
    >;
  } catch {
    throw bad();
  }
  const { relay, folderId, inviteId, secret, to, consistency } = value ?? {};
  let url: URL | undefined;
  try {
    url = typeof relay === "string" ? new URL(relay) : undefined;
  } catch {
    url = undefined;
  }
  if (
    (url?.protocol !== "http:" && url?.protocol !== "https:") ||
    !isFolderId(folderId) ||
    typeof inviteId !== "string" ||
    !/^[A-Za-z0-9_-]{1,64}$/.test(inviteId) ||
    (secret === undefined) === (to === undefined) ||
    (secret !== undefined && typeof secret !== "string") ||
    (to !== undefined && !isDeviceId(to)) ||
    (consistency !== undefined && consistency !== "strong")
  )
    throw bad();
  return {
    relay: url.href.replace(/\/+$/, ""),
    folderId,
    inviteId,
    ...(typeof secret === "string" ? { secret } : { to }),
    ...(consistency === "strong" ? { consistency } : {}),
  };
}
