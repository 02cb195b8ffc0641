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
  relayAddresses,
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
  relay: string | readonly string[],
  user: string,
  password: string,
): Promise<void> {
  const urls = normalizeRelayUrls(relay);
  await relayCall(() => RelayAccount.register({ relay: urls, user, password }));
}

/**
 * Relay addresses as given (`--relay`, repeatable) in one form, duplicates dropped, the first
 * (the relay's identity) first. @throws AgentError USAGE for none or a malformed one
 */
export function normalizeRelayUrls(relays: string | readonly string[]): string[] {
  const list = (typeof relays === "string" ? [relays] : [...relays]).map(normalizeRelayUrl);
  if (list.length === 0) throw new AgentError("USAGE", "--relay is required");
  return list.filter((url, i) => list.indexOf(url) === i);
}

/** The addresses to store: just `relay` for one (records stay as they were). */
function addressesField(urls: readonly string[]): { relays?: string[] } {
  return urls.length > 1 ? { relays: [...urls] } : {};
}

/**
 * Logs in with this device's public keys (registering the device to the account) and stores the
 * tokens under WEFT_HOME. With several addresses of one relay, the first is its identity and
 * every one is tried in turn.
 */
export async function login(
  home: Home,
  relay: string | readonly string[],
  user: string,
  password: string,
  device: DeviceIdentity,
): Promise<AccountRecord> {
  const urls = normalizeRelayUrls(relay);
  const account = await relayCall(() =>
    RelayAccount.login({ relay: urls, user, password, identity: device }),
  );
  const record: AccountRecord = {
    relay: urls[0]!,
    ...addressesField(urls),
    user,
    ...account.tokens,
  };
  await withLock(home.lockPath("accounts"), () => home.saveAccount(record));
  return record;
}

/**
 * Changes the addresses of the account for `relay` (its identity; or the only account) to
 * `relays`, keeping its tokens: every address is the same relay, so the session holds on all.
 * The first of `relays` must stay the relay's identity. @throws AgentError USAGE otherwise
 */
export async function setRelayAddresses(
  home: Home,
  relays: readonly string[],
  relay?: string,
): Promise<AccountRecord> {
  const urls = normalizeRelayUrls(relays);
  return withLock(home.lockPath("accounts"), async () => {
    const record = await home.account(relay ?? urls[0]);
    if (urls[0] !== record.relay)
      throw new AgentError(
        "USAGE",
        `the first address must stay the relay's identity, ${record.relay} (invites and folders name it); to use another relay, log in to it`,
      );
    const { relays: _old, ...rest } = record;
    const updated: AccountRecord = { ...rest, ...addressesField(urls) };
    await home.saveAccount(updated);
    return updated;
  });
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
      relay: relayAddresses(record),
      tokens: tokensOf(record),
      tokenStore: store,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    return new AccountLogin(record, session);
  }

  /** The relay's identity (its first address). */
  get relay(): string {
    return this.record.relay;
  }
  /** Every address of the relay, the identity first. */
  get relays(): string[] {
    return relayAddresses(this.record);
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

  /**
   * A valid access token; not `refused`, a token the relay just turned down (see core's
   * `RelaySession.token`). @throws AgentError AUTH when the session ended (log in again)
   */
  async token(refused?: string): Promise<string> {
    try {
      return await this.relaySession.token(refused);
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
