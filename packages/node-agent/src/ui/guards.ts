/**
 * The dashboard's request guards: only this machine's own origin, only a browser that was given
 * the token, no cross-site writes, small bodies. Other local programs and any web page the user
 * visits can reach 127.0.0.1, so each of these stands between them and the user's files.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { WeftError } from "@weft/core";

/** Largest request body accepted (the API only takes small JSON objects). */
export const MAX_BODY_BYTES = 64 * 1024;

/** The custom header every state-changing request carries: a cross-site form cannot set it. */
export const CSRF_HEADER = "x-weft-ui";

/** A refusal with the HTTP status and a one-line reason for people (a WeftError, code HTTP). */
export class HttpError extends WeftError {
  override readonly name: string = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("HTTP", message, options);
  }
}

/** A new access token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Compares a presented token with the real one in constant time (hashes first: equal lengths). */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

/**
 * The cookie's name carries the port: cookies are not kept apart by port, and two agents of two
 * homes on one machine would otherwise overwrite each other's.
 */
export function cookieName(port: number): string {
  return `weft_ui_${port}`;
}

/** The Set-Cookie value that lets this browser in until it closes. */
export function sessionCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** The value of cookie `name` in the request, if any. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Refuses a Host other than 127.0.0.1:PORT or localhost:PORT: a page on a hostile domain that
 * re-points its name to 127.0.0.1 (DNS rebinding) would otherwise count as same-origin.
 * @throws HttpError 421
 */
export function checkHost(req: IncomingMessage, port: number): string {
  const host = req.headers.host ?? "";
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`)
    throw new HttpError(421, "this dashboard answers only at 127.0.0.1 on its own port");
  return host;
}

/**
 * A state-changing request must come from the page itself: its Origin is the page's own, and it
 * carries the custom header (which a cross-site form or a simple request cannot add).
 * @throws HttpError 403
 */
export function checkSameOrigin(req: IncomingMessage, host: string): void {
  if (req.headers.origin !== `http://${host}`)
    throw new HttpError(403, "refused: this request did not come from the dashboard page");
  if (req.headers[CSRF_HEADER] !== "1")
    throw new HttpError(403, `refused: the ${CSRF_HEADER} header is missing`);
}

/**
 * Reads a JSON object body of at most {@link MAX_BODY_BYTES}.
 * @throws HttpError 413 when larger, 415 when not JSON, 400 when malformed
 */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume(); // drain, so the reply reaches the client
    throw new HttpError(413, `request body too large (at most ${MAX_BODY_BYTES} bytes)`);
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, `request body too large (at most ${MAX_BODY_BYTES} bytes)`);
    parts.push(chunk);
  }
  if (type !== "application/json") throw new HttpError(415, "send the body as application/json");
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    throw new HttpError(400, "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new HttpError(400, "the body must be a JSON object");
  return value as Record<string, unknown>;
}

/**
 * Headers on every response: no framing (clickjacking), no sniffing, no referrer (the URL held
 * the token), nothing cached, and scripts only from this origin plus the one import map.
 */
export function securityHeaders(res: ServerResponse, importMapHash: string): void {
  res.setHeader(
    "Content-Security-Policy",
    [
      "default-src 'self'",
      `script-src 'self' '${importMapHash}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  );
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Cache-Control", "no-store");
}
