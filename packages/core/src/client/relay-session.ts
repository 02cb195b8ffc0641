/** RelaySession: signed in to a relay, with an access token refreshed before it expires, one refresh at a time. */
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { RelayEndpoints } from "./relay-endpoints.js";
import { RelayHttp, type RelayHttpOptions, field, isTokenText } from "./relay-http.js";

/** Refresh the access token when it has less than this left. */
const REFRESH_MARGIN_MS = 60_000;

/**
 * A session's tokens. **Secret**: whoever holds the refresh token is signed in as the account
 * until it expires or is revoked. Never put them in a log or an error message.
 */
export interface RelayTokens {
  accountId: string;
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, ms since the epoch. */
  accessExpires: number;
}

/**
 * Where a {@link RelaySession} keeps its tokens between runs, and how several processes sharing them
 * take turns. The relay rotates the refresh token on each use and ends the whole session when a
 * used one comes back, so two holders must never refresh with the same one.
 */
export interface RelayTokenStore {
  /** Persists tokens after login and after every refresh. */
  save(tokens: RelayTokens): void | Promise<void>;
  /** The newest stored tokens (another process may have refreshed): read under `exclusive`. */
  load?(): Promise<RelayTokens | undefined>;
  /** Runs a refresh exclusively among every holder of these tokens (e.g. under a file lock). */
  exclusive?<T>(refresh: () => Promise<T>): Promise<T>;
}

/** The tokens in a login or refresh answer, checked. */
export function tokensFrom(json: Record<string, unknown>, what: string): RelayTokens {
  const accessToken = field(json, "accessToken", what, "string");
  const refreshToken = field(json, "refreshToken", what, "string");
  const expiresIn = field(json, "expiresIn", what, "number");
  if (!isTokenText(accessToken) || !isTokenText(refreshToken) || expiresIn <= 0)
    throw new ProtocolError("bad_frame", `the ${what} answer holds malformed tokens`);
  return {
    accountId: field(json, "accountId", what, "string"),
    accessToken,
    refreshToken,
    accessExpires: Date.now() + expiresIn * 1000,
  };
}

/** Stored tokens, checked. @throws WeftError INVALID_OPTIONS */
export function checkTokens(tokens: RelayTokens): RelayTokens {
  if (
    typeof tokens?.accountId !== "string" ||
    !isTokenText(tokens.refreshToken) ||
    typeof tokens.accessToken !== "string" ||
    !Number.isFinite(tokens.accessExpires)
  )
    throw new WeftError("INVALID_OPTIONS", "tokens are malformed");
  return { ...tokens };
}

/** How to go on with stored tokens: {@link RelaySession.resume}. */
export interface RelaySessionOptions extends RelayHttpOptions {
  tokens: RelayTokens;
  tokenStore?: RelayTokenStore;
}

/**
 * An account signed in to a relay, with no device attached: tokens that refresh themselves
 * (once for every caller that asks at the same time, since a refresh token works once) and
 * authorized JSON calls. `RelayAccount` adds a device and the folder and invite calls on top;
 * one session can serve several of them.
 */
export class RelaySession {
  /** One refresh at a time in this process. */
  #refreshing: Promise<string> | undefined;
  #current: RelayTokens;
  /**
   * The refresh token the relay refused for good (the session ended, or the device was
   * removed), with why: asking again with it would only be refused again, so it is not sent.
   */
  #ended: { refreshToken: string; error: ProtocolError } | undefined;
  readonly #http: RelayHttp;
  readonly #store: RelayTokenStore | undefined;

  /** Use {@link RelaySession.resume} or `RelayAccount.login`. */
  constructor(http: RelayHttp, tokens: RelayTokens, store: RelayTokenStore | undefined) {
    this.#http = http;
    this.#current = checkTokens(tokens);
    this.#store = store;
  }

  /** A session from stored tokens (no request is made; the access token refreshes when needed). */
  static resume(options: RelaySessionOptions): RelaySession {
    return new RelaySession(new RelayHttp(options), options.tokens, options.tokenStore);
  }

  /** The relay's base URL, without a trailing slash. */
  get relay(): string {
    return this.#http.base;
  }

  /** The account's id on the relay. */
  get accountId(): string {
    return this.#current.accountId;
  }

  /** The current tokens (**secret**), e.g. to store them when there is no token store. */
  get tokens(): RelayTokens {
    return { ...this.#current };
  }

  /**
   * A valid access token, refreshed when it has less than a minute left, or when it is
   * `refused`: the relay turned it down before its time (its sign-in ended: a logout or a
   * reused refresh token elsewhere), so only a refresh can tell whether the session goes on.
   * Pass it as a Replica's or an HttpBlobStore's `token` (bound: `token: session.token` works).
   * @throws ProtocolError `unauthorized` when the session ended (log in again)
   */
  readonly token = (refused?: string): Promise<string> => {
    const t = this.#current;
    if (
      t.accessToken !== "" &&
      t.accessToken !== refused &&
      t.accessExpires - Date.now() > REFRESH_MARGIN_MS
    )
      return Promise.resolve(t.accessToken);
    return this.refresh();
  };

  /** Refreshes the access token now (also rotating the refresh token) and returns it. */
  refresh(): Promise<string> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** An authorized JSON call; a 401 refreshes the token once and tries again. */
  async request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    try {
      return await this.#http.call(method, path, { body, token: await this.token() });
    } catch (error) {
      if (!(error instanceof ProtocolError) || error.wireCode !== "unauthorized") throw error;
      return this.#http.call(method, path, { body, token: await this.refresh() });
    }
  }

  /** Ends the session on the relay: its refresh tokens stop working. */
  async logout(): Promise<void> {
    const { refreshToken } = this.#current;
    await this.#http.call("POST", "/v1/auth/logout", { body: { refreshToken } });
    this.#current = { ...this.#current, accessToken: "", accessExpires: 0 };
  }

  /** The relay's addresses (the first is {@link relay}), shared by every client of this session. */
  get endpoints(): RelayEndpoints {
    return this.#http.endpoints;
  }

  /** The fetch this session uses, for clients made from it (it follows {@link endpoints}). */
  get fetchFn(): typeof fetch {
    return this.#http.fetchFn;
  }

  #refreshOnce(): Promise<string> {
    const store = this.#store;
    const run = async (): Promise<string> => {
      // Another holder may have refreshed meanwhile: its tokens are the current ones.
      const stored = await store?.load?.();
      if (stored !== undefined && stored.refreshToken !== this.#current.refreshToken) {
        this.#current = checkTokens(stored);
        if (stored.accessExpires - Date.now() > REFRESH_MARGIN_MS) return stored.accessToken;
      }
      const ended = this.#ended;
      if (ended !== undefined && ended.refreshToken === this.#current.refreshToken)
        throw ended.error;
      let json: Record<string, unknown>;
      try {
        json = await this.#http.call("POST", "/v1/auth/refresh", {
          body: { refreshToken: this.#current.refreshToken },
        });
      } catch (error) {
        if (error instanceof ProtocolError && error.wireCode === "unauthorized") {
          const ended = new ProtocolError(
            "unauthorized",
            `the session with ${this.#http.base} ended; log in again (${error.message})`,
            { cause: error },
          );
          this.#ended = { refreshToken: this.#current.refreshToken, error: ended };
          throw ended;
        }
        // A removed device: refused for good too.
        if (error instanceof ProtocolError && error.wireCode === "forbidden")
          this.#ended = { refreshToken: this.#current.refreshToken, error };
        throw error;
      }
      this.#current = tokensFrom(json, "refresh");
      await store?.save(this.#current);
      return this.#current.accessToken;
    };
    return store?.exclusive ? store.exclusive(run) : run();
  }
}
