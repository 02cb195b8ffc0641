/**
 * RelayAccount.folderMetadata: fetch a folder's owner-signed metadata from the relay and check
 * it before anything is taken from it (folder-meta.ts says what the record is).
 */
import type { FolderKeyring } from "@weft/crypto";
import { constantTimeEqual } from "@weft/crypto";
import { WeftError } from "../errors.js";
import {
  type FolderMetadata,
  decodeFolderMeta,
  openFolderMeta,
  verifyFolderMeta,
} from "./folder-meta.js";
import type { FolderMembers, FolderState } from "./relay-members.js";

/** What {@link fetchFolderMetadata} uses of a RelayAccount. */
interface RelayAccount {
  folder(folderId: FolderKeyring["folderId"]): Promise<FolderState>;
  members(folderId: FolderKeyring["folderId"]): Promise<FolderMembers>;
  folderKeys(folderId: FolderKeyring["folderId"], held?: FolderKeyring): Promise<FolderKeyring>;
}

/** A folder's verified metadata and the record it came from (to compare with later). */
export interface VerifiedFolderMetadata {
  metadata: FolderMetadata;
  /** The record as the relay served it. */
  record: string;
}

/** RelayAccount.folderMetadata. */
export async function fetchFolderMetadata(
  account: RelayAccount,
  keyring: FolderKeyring,
  options: { known?: string } = {},
): Promise<VerifiedFolderMetadata | undefined> {
  const folderId = keyring.folderId;
  const { meta } = await account.folder(folderId);
  const broken = (why: string, cause?: unknown) =>
    new WeftError(
      "INTEGRITY",
      `folder ${folderId}'s signed metadata ${why}; refusing to use the folder with a mode ` +
        `nobody can vouch for`,
      cause === undefined ? undefined : { cause },
    );
  // A record is made once, with the folder: one this device checked before cannot go or change.
  if (options.known !== undefined && meta !== options.known)
    throw broken(meta === null ? "is gone from the relay" : "changed since this device checked it");
  if (meta === null) return undefined;
  let record;
  try {
    record = decodeFolderMeta(meta);
  } catch (cause) {
    throw broken("from the relay is malformed", cause);
  }
  if (record.folderId !== folderId) throw broken("is another folder's");
  if (!verifyFolderMeta(record)) throw broken("does not verify: it was changed or forged");
  // The signer must be an owner's device. Done once: a record this device checked before (at
  // join) stays good when its creator's device is later removed or its account demoted.
  if (options.known === undefined) {
    const owners = (await account.members(folderId)).members.filter((m) => m.role === "owner");
    const signer = owners.flatMap((m) => m.devices).find((d) => d.deviceId === record.signer);
    if (!signer || !constantTimeEqual(signer.signPublicKey, record.signPublicKey))
      throw broken(`is signed by device ${record.signer}, which is not a device of an owner`);
  }
  // The body opens only under epoch 0's key: a member who joined after a rotation walks the
  // chain of announcements back to it.
  let key0: Uint8Array | undefined;
  if (keyring.has(0)) key0 = keyring.folderKey(0);
  else {
    const walked = await account.folderKeys(folderId, keyring);
    if (walked.has(0)) key0 = walked.folderKey(0);
  }
  if (!key0) throw broken("cannot be opened: this device has no key of the folder's epoch 0");
  return { metadata: openFolderMeta(record, key0), record: meta };
}
