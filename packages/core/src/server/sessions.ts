/** The protocol server's authenticated connections: counted per account, ended by expiry or revocation. */
import { ProtocolError } from "../protocol/errors.js";
import { errorMessageFor } from "../protocol/messages.js";
import type { Principal, ProtocolConnection } from "./connection.js";
import { MAX_SESSIONS_PER_ACCOUNT } from "./limits.js";

/** A refusal that ends the connection (others answer the request and go on). */
export class Fatal extends ProtocolError {}

/** Every authenticated connection, per account, and how one ends. */
export class Sessions {
  /** Authenticated connections per account, bounded by MAX_SESSIONS_PER_ACCOUNT. */
  private readonly perAccount = new Map<string, number>();
  /** Every authenticated connection not ended, to end them by expiry, account or device. */
  private readonly live = new Set<ProtocolConnection>();

  constructor(
    private readonly now: () => number,
    /** Takes the connection out of its folders (peers see its device go offline). */
    private readonly leaveFolders: (conn: ProtocolConnection) => void,
  ) {}

  /**
   * Makes `conn` authenticated as `principal`: counted toward the account's connections.
   * @throws ProtocolError `rate_limited` past MAX_SESSIONS_PER_ACCOUNT, `forbidden` for
   * another device than the connection's
   */
  adopt(conn: ProtocolConnection, principal: Principal): void {
    if (conn.principal && conn.principal.deviceId !== principal.deviceId)
      throw new Fatal("forbidden", "the connection is authenticated as another device");
    if (!conn.principal) {
      const open = this.perAccount.get(principal.accountId) ?? 0;
      if (open >= MAX_SESSIONS_PER_ACCOUNT)
        throw new Fatal("rate_limited", "too many connections for this account");
      this.perAccount.set(principal.accountId, open + 1);
    }
    // A second auth on the connection (a fresh token before the first expires) extends it.
    conn.principal = principal;
    this.live.add(conn);
    conn.authenticated?.();
  }

  /** The connection closed: it no longer counts toward its account. */
  closed(conn: ProtocolConnection): void {
    this.live.delete(conn);
    const account = conn.principal?.accountId;
    if (account === undefined) return;
    const left = (this.perAccount.get(account) ?? 1) - 1;
    if (left > 0) this.perAccount.set(account, left);
    else this.perAccount.delete(account);
  }

  /** Every authenticated connection not ended. */
  connections(): IterableIterator<ProtocolConnection> {
    return this.live.values();
  }

  /** Ends every connection whose access token has expired. */
  sweep(): void {
    const now = this.now();
    for (const conn of [...this.live])
      if (conn.principal && conn.principal.expires <= now) this.endExpired(conn);
  }

  /** Ends every live connection whose principal matches. */
  endWhere(match: (who: Principal) => boolean, error: ProtocolError): void {
    for (const conn of [...this.live])
      if (conn.principal && match(conn.principal)) this.end(conn, error);
  }

  endExpired(conn: ProtocolConnection): void {
    this.end(
      conn,
      new ProtocolError("unauthorized", "the access token expired; authenticate again"),
    );
  }

  /**
   * Ends a connection: it leaves its folders (peers see it go offline), gets `error` as its last
   * frame, and closes. The transport's close then calls `ProtocolServer.closed`.
   */
  end(conn: ProtocolConnection, error: ProtocolError): void {
    if (conn.ended) return;
    conn.ended = true;
    this.live.delete(conn);
    this.leaveFolders(conn);
    conn.send(errorMessageFor(error));
    conn.close(1008, error.message);
  }
}
