/** Opaque refresh tokens: random bearer strings whose SHA-256 alone is stored by the relay. */
import { createHash, randomBytes } from "node:crypto";
import { AuthError } from "./errors.js";

/**
 * A fresh refresh token and the hash to store for it.
 *
 * Rotation (enforced by the server, like OAuth 2.1 refresh token rotation): each token belongs
 * to a family, started at sign-in ({@link newFamilyId}). Using a token marks it used and issues
 * a new one in the same family. Presenting a token that was already used revokes the whole
 * family: either the client or a thief replayed it, the relay cannot tell which, so both must
 * sign in again (theft detection).
 */
export interface NewRefreshToken {
  /** 32 random bytes, base64url without padding (43 characters); given to the client only. */
  token: string;
  /** Lowercase hex SHA-256 of `token`; what the relay stores and looks up. */
  hash: string;
}

const TOKEN_BYTES = 32;
const FAMILY_BYTES = 16;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new refresh token (see {@link NewRefreshToken} for the rotation rule). The relay stores
 * only the hash, so a leaked database does not hand out live tokens; a plain SHA-256 suffices
 * (no salt, no slow hash) because the token has 256 bits of entropy, unlike a password.
 */
export function newRefreshToken(): NewRefreshToken {
  const token = randomBytes(TOKEN_BYTES).toString("base64url");
  return { token, hash: sha256Hex(token) };
}

/**
 * The stored form of a presented refresh token, to look it up by.
 * @throws AuthError `invalid` when `token` does not have the shape of one of ours (checked
 * first, so arbitrary client input is never hashed or echoed)
 */
export function hashRefreshToken(token: string): string {
  if (typeof token !== "string" || !TOKEN_SHAPE.test(token)) {
    throw new AuthError("invalid", "malformed refresh token");
  }
  return sha256Hex(token);
}

/** A new refresh-token family id: 16 random bytes, base64url (22 characters). */
export function newFamilyId(): string {
  return randomBytes(FAMILY_BYTES).toString("base64url");
}

function sha256Hex(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
