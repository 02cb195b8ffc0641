/** The agent's side of the relay's HTTP API: sign-up, login, tokens that refresh themselves, and the folder calls. */
import type { DeviceIdentity } from "@weft/crypto";
import { toBase64Url } from "@weft/crypto";
import {
  type AccountRecord,
  AgentError,
  type Home,
  normalizeRelayUrl,
  withLock,
} from "../home/index.js";

/** Refresh the access token when it has less than this left. */
const REFRESH_MARGIN_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** A relay's JSON reply. */
export interface RelayReply {
  status: number;
  json: Record<string, unknown>;
}

/**
 * One JSON request to a relay. Errors carry the relay's own message (`{error:{code,message}}`),
 * never the token.
 * @throws AgentError RELAY when the relay cannot be reached or answers with an error status
 */
export async function relayRequest(
  relay: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<RelayReply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers["authorization"] = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`${relay}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new AgentError(
      "RELAY",
      `cannot reach the relay at ${relay}${cause ? ` (${cause})` : ""}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const text = await response.text();
  let json: Record<string, unknown> = {};
  if (text) {
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = {};
    }
  }
  if (response.status >= 400) {
    const err = json["error"] as { code?: string; message?: string } | undefined;
    const reason = err?.message ?? `HTTP ${response.status}`;
    const error = new AgentError(
      response.status === 401 ? "AUTH" : "RELAY",
      `the relay refused ${method} ${path.replace(/\/invites\/[^/]+/, "/invites/…")}: ${reason}`,
    );
    (error as AgentError & { status?: number; wireCode?: string }).status = response.status;
    (error as AgentError & { wireCode?: string }).wireCode = err?.code;
    throw error;
  }
  return { status: response.status, json };
}

/** The HTTP status of a relay refusal, if `error` is one. */
export function relayStatus(error: unknown): number | undefined {
  return error instanceof AgentError
    ? (error as AgentError & { status?: number }).status
    : undefined;
}

/** Creates an account on a relay. @throws AgentError RELAY (409 when the name is taken) */
export async function registerAccount(
  relay: string,
  user: string,
  password: string,
): Promise<void> {
  await relayRequest(normalizeRelayUrl(relay), "POST", "/v1/auth/register", { user, password });
}

/**
 * Logs in with this device's public keys (registering the device to the account) and stores the
 * tokens under WEFT_HOME.
 */
export async function login(
  home: Home,
  relay: string,
  user: string,
  password: string,
  device: DeviceIdentity,
): Promise<AccountRecord> {
  const url = normalizeRelayUrl(relay);
  const { json } = await relayRequest(url, "POST", "/v1/auth/login", {
    user,
    password,
    device: {
      deviceId: device.deviceId,
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  const record: AccountRecord = {
    relay: url,
    user,
    accountId: json["accountId"] as string,
    refreshToken: json["refreshToken"] as string,
    accessToken: json["accessToken"] as string,
    accessExpires: Date.now() + Number(json["expiresIn"]) * 1000,
  };
  await withLock(home.lockPath("accounts"), () => home.saveAccount(record));
  return record;
}

/**
 * A logged-in account: hands out a valid access token, refreshing it (under a lock shared by
 * every weft process of this home, since refresh tokens rotate and a reused one ends the
 * session) when it is about to expire.
 */
export class Session {
  private constructor(
    private readonly home: Home,
    private record: AccountRecord,
  ) {}

  /** The session for `relay` (or the only account). @throws AgentError NOT_READY when not logged in */
  static async open(home: Home, relay?: string): Promise<Session> {
    return new Session(home, await home.account(relay));
  }

  get relay(): string {
    return this.record.relay;
  }
  get user(): string {
    return this.record.user;
  }

  /** A valid access token. @throws AgentError AUTH when the session ended (log in again) */
  async token(force = false): Promise<string> {
    const fresh = (r: AccountRecord) =>
      !force && r.accessToken && (r.accessExpires ?? 0) - Date.now() > REFRESH_MARGIN_MS;
    if (fresh(this.record)) return this.record.accessToken!;
    return withLock(this.home.lockPath("accounts"), async () => {
      // Another process may have refreshed meanwhile: its tokens are the current ones.
      const stored = (await this.home.accounts()).find((a) => a.relay === this.record.relay);
      if (stored && stored.refreshToken !== this.record.refreshToken) {
        this.record = stored;
        if (fresh(stored)) return stored.accessToken!;
      }
      let json: Record<string, unknown>;
      try {
        ({ json } = await relayRequest(this.relay, "POST", "/v1/auth/refresh", {
          refreshToken: this.record.refreshToken,
        }));
      } catch (error) {
        if (relayStatus(error) === 401)
          throw new AgentError(
            "AUTH",
            `the session with ${this.relay} ended; run: weft account login --relay ${this.relay} --user ${this.user}`,
            { cause: error },
          );
        throw error;
      }
      this.record = {
        ...this.record,
        refreshToken: json["refreshToken"] as string,
        accessToken: json["accessToken"] as string,
        accessExpires: Date.now() + Number(json["expiresIn"]) * 1000,
      };
      await this.home.saveAccount(this.record);
      return this.record.accessToken!;
    });
  }

  /** An authorized JSON request; a 401 refreshes the token once and retries. */
  async request(method: string, path: string, body?: unknown): Promise<RelayReply> {
    try {
      return await relayRequest(this.relay, method, path, body, await this.token());
    } catch (error) {
      if (relayStatus(error) !== 401) throw error;
      return relayRequest(this.relay, method, path, body, await this.token(true));
    }
  }
}
