/** What startRelay opens with `--database`: the PgMetaStore, and the JWT secret every relay on the database shares. */
import { randomBytes } from "node:crypto";
import { type PgMetaStore, openPgMetaStore } from "./pg-meta-store.js";

/** The name of the JWT signing secret in `relay_secrets`. */
const JWT_SECRET = "jwt";

/**
 * Opens the metadata store on `url` (migrating it) and settles the JWT signing secret: `given`
 * (WEFT_RELAY_JWT_SECRET) if set, else the one in the database, made by the first relay to get
 * there (32 random bytes, base64url), so that every relay on the database verifies every other's
 * tokens. `onError` hears of pooled connections that broke while idle.
 */
export async function openPgRelayStore(
  url: string,
  given: string | undefined,
  onError: (error: Error) => void,
): Promise<{ meta: PgMetaStore; jwtSecret: Uint8Array }> {
  const meta = await openPgMetaStore(url, { onError });
  try {
    const secret =
      given || (await meta.sharedSecret(JWT_SECRET, () => randomBytes(32).toString("base64url")));
    return { meta, jwtSecret: new TextEncoder().encode(secret) };
  } catch (error) {
    await meta.close().catch(() => undefined);
    throw error;
  }
}
