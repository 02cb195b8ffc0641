/** The agent's accounts on relays: sign-up, login, and sessions whose tokens live under WEFT_HOME and refresh under a lock. */
import type { DeviceIdentity } from "@weft/crypto";
import {
  ProtocolError,
  RelayAccount,
  RelaySession,
  type RelayTokenStore,
  type RelayTokens,
  WeftError,
} from "@weft/core";
import {
  type AccountRecord,
  AgentError,
  type Home,
  normalizeRelayUrl,
  withLock,
} from "../home/index.js";

/**
 * A failure of core's relay client as the agent reports it, in the relay's words: AUTH for a
 * refused login or an ended session (401) and for a key or secret that does not open, RELAY
 * for every other refusal or an unreachable relay. Anything else passes through.
 */
export function agentError(error: unknown): unknown {
  if (error instanceof AgentError) return error;
  if (error instanceof ProtocolError) {
    const mapped = new AgentError(
      error.wireCode === "unauthorized" ? "AUTH" : "RELAY",
      error.message,
      { cause: error },
    ) as AgentError & { status?: number; wireCode?: string };
    // `unavailable` is also what an unreachable relay gives: no status was answered then.
    if (error.wireCode !== "unavailable") mapped.status = error.httpStatus;
    mapped.wireCode = error.wireCode;
    return mapped;
  }
  if (error instanceof WeftError && error.code === "INTEGRITY")
    return new AgentError("AUTH", error.message, { cause: error });
  return error;
}

/** Runs a call of core's relay client, its failures turned into AgentErrors. */
export async function relayCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw agentError(error);
  }
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
  const url = normalizeRelayUrl(relay);
  await relayCall(() => RelayAccount.register({ relay: url, user, password }));
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
  const account = await relayCall(() =>
    RelayAccount.login({ relay: url, user, password, identity: device }),
  );
  const record: AccountRecord = { relay: url, user, ...account.tokens };
  await withLock(home.lockPath("accounts"), () => home.saveAccount(record));
  return record;
}

function tokensOf(record: AccountRecord): RelayTokens {
  return {
    accountId: record.accountId,
    refreshToken: record.refreshToken,
    accessToken: record.accessToken ?? "",
    accessExpires: record.accessExpires ?? 0,
  };
}

/**
 * A logged-in account: hands out a valid access token, refreshing it (under a lock shared by
 * every weft process of this home, since refresh tokens rotate and a reused one ends the
 * session) when it is about to expire. The HTTP and the refreshing are core's RelaySession;
 * the tokens are kept in WEFT_HOME's accounts file.
 */
export class AccountLogin {
  private readonly devices = new Map<string, RelayAccount>();

  private constructor(
    private readonly record: AccountRecord,
    /** Core's session: tokens and authorized calls. */
    readonly relaySession: RelaySession,
  ) {}

  /**
   * The session for `relay` (or the only account); its requests give up after `timeoutMs`
   * (default: core's, 30 s). @throws AgentError NOT_READY when not logged in
   */
  static async open(
    home: Home,
    relay?: string,
    options: { timeoutMs?: number } = {},
  ): Promise<AccountLogin> {
    const record = await home.account(relay);
    const stored = async () => (await home.accounts()).find((a) => a.relay === record.relay);
    const store: RelayTokenStore = {
      // Another process may have refreshed meanwhile: its tokens are the current ones.
      load: async () => {
        const found = await stored();
        return found && tokensOf(found);
      },
      save: async (tokens) => home.saveAccount({ ...((await stored()) ?? record), ...tokens }),
      exclusive: (refresh) => withLock(home.lockPath("accounts"), refresh),
    };
    const session = RelaySession.resume({
      relay: record.relay,
      tokens: tokensOf(record),
      tokenStore: store,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    return new AccountLogin(record, session);
  }

  get relay(): string {
    return this.record.relay;
  }
  get user(): string {
    return this.record.user;
  }

  /** This device on the session: core's client for the folder, key and invite calls. */
  account(identity: DeviceIdentity): RelayAccount {
    let account = this.devices.get(identity.deviceId);
    if (!account) {
      account = RelayAccount.on(this.relaySession, identity);
      this.devices.set(identity.deviceId, account);
    }
    return account;
  }

  /** A valid access token. @throws AgentError AUTH when the session ended (log in again) */
  async token(force = false): Promise<string> {
    try {
      return await (force ? this.relaySession.refresh() : this.relaySession.token());
    } catch (error) {
      if (error instanceof ProtocolError && error.wireCode === "unauthorized")
        throw new AgentError(
          "AUTH",
          `the session with ${this.relay} ended; run: weft account login --relay ${this.relay} --user ${this.user}`,
          { cause: error },
        );
      throw agentError(error);
    }
  }

  /** An authorized JSON request; a 401 refreshes the token once and retries. */
  request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    return relayCall(() => this.relaySession.request(method, path, body));
  }
}
