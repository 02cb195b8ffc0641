// Access tokens, refresh tokens, rate limiting and AuthError of the relay's auth building blocks.
import { createHmac, generateKeyPairSync } from "node:crypto";
import { ProtocolError, WeftError } from "@weft/core";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import {
  AuthError,
  MAX_TOKEN_LENGTH,
  RevokedFamilies,
  TokenBucket,
  hashRefreshToken,
  newFamilyId,
  newRefreshToken,
  signAccessToken,
  verifyAccessToken,
} from "../src/auth/index.js";
import { parseConfig } from "../src/config.js";

const SECRET = new Uint8Array(32).fill(7);
const OTHER_SECRET = new Uint8Array(32).fill(8);
const T0 = Date.UTC(2030, 0, 1);

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const hmac = (secret: Uint8Array, input: string): string =>
  createHmac("sha256", secret).update(input).digest("base64url");
/** A token signed with `secret` over whatever header and payload a test wants. */
const forge = (header: unknown, payload: unknown, secret = SECRET): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${hmac(secret, input)}`;
};
const goodPayload = { sub: "acct-1", iat: T0 / 1000, exp: T0 / 1000 + 900, typ: "access" };

/** Asserts an AuthError with `reason` whose message and stack do not contain `token`. */
function expectAuthError(run: () => unknown, reason: AuthError["reason"], token?: string): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AuthError);
  const error = caught as AuthError;
  expect(error.reason).toBe(reason);
  // Strings this short turn up in any message by coincidence.
  if (token !== undefined && token.length >= 8) {
    expect(error.message).not.toContain(token);
    expect(String(error.stack)).not.toContain(token);
  }
}

describe("access tokens", () => {
  it("round-trips claims, with and without a device", () => {
    const token = signAccessToken(SECRET, { sub: "acct-1", dev: "dev-1" }, { now: T0 });
    expect(verifyAccessToken(SECRET, token, T0)).toEqual({
      sub: "acct-1",
      dev: "dev-1",
      iat: T0 / 1000,
      exp: T0 / 1000 + 900,
      typ: "access",
    });
    const bare = signAccessToken(SECRET, { sub: "acct-1" }, { now: T0, ttlSeconds: 60 });
    const claims = verifyAccessToken(SECRET, bare, T0);
    expect(claims).toEqual({ sub: "acct-1", iat: T0 / 1000, exp: T0 / 1000 + 60, typ: "access" });
    expect("dev" in claims).toBe(false);
  });

  it("carries the sign-in's refresh family when given one; a token without it still verifies", () => {
    const token = signAccessToken(
      SECRET,
      { sub: "acct-1", dev: "dev-1", fam: "fam-1" },
      { now: T0 },
    );
    expect(verifyAccessToken(SECRET, token, T0)).toMatchObject({ sub: "acct-1", fam: "fam-1" });
    const older = signAccessToken(SECRET, { sub: "acct-1", dev: "dev-1" }, { now: T0 });
    expect("fam" in verifyAccessToken(SECRET, older, T0)).toBe(false);
    expect(() => signAccessToken(SECRET, { sub: "a", fam: "" })).toThrow(/fam must be/);
  });

  it("uses the exact header, unpadded base64url, and only known claims", () => {
    const extra = { sub: "acct-1", role: "admin" } as { sub: string };
    const token = signAccessToken(SECRET, extra, { now: T0 });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    expect(Buffer.from(header, "base64url").toString()).toBe('{"alg":"HS256","typ":"JWT"}');
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).not.toHaveProperty("role");
    expect(signature).toBe(hmac(SECRET, `${header}.${payload}`));
  });

  it("is expired from exp on, and only then", () => {
    const token = signAccessToken(SECRET, { sub: "acct-1" }, { now: T0, ttlSeconds: 60 });
    expect(verifyAccessToken(SECRET, token, T0 + 59_999).sub).toBe("acct-1");
    expectAuthError(() => verifyAccessToken(SECRET, token, T0 + 60_000), "expired", token);
    const error = catchError(() => verifyAccessToken(SECRET, token, T0 + 60_000));
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).wireCode).toBe("unauthorized");
  });

  it("refuses a tampered payload or signature", () => {
    const token = signAccessToken(SECRET, { sub: "acct-1" }, { now: T0 });
    const [header, , signature] = token.split(".") as [string, string, string];
    const elevated = `${header}.${b64({ ...goodPayload, sub: "acct-2" })}.${signature}`;
    expectAuthError(() => verifyAccessToken(SECRET, elevated, T0), "invalid", elevated);
    const last = signature.endsWith("A") ? "B" : "A";
    const flipped = `${token.slice(0, -1)}${last}`;
    expectAuthError(() => verifyAccessToken(SECRET, flipped, T0), "invalid", flipped);
    const truncated = token.slice(0, -2);
    expectAuthError(() => verifyAccessToken(SECRET, truncated, T0), "invalid", truncated);
  });

  it("refuses a token signed with another secret", () => {
    const token = signAccessToken(OTHER_SECRET, { sub: "acct-1" }, { now: T0 });
    expectAuthError(() => verifyAccessToken(SECRET, token, T0), "invalid", token);
  });

  it("refuses alg none, RS256 and any header but its own, even when the MAC is right", () => {
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64(goodPayload)}.`;
    expectAuthError(() => verifyAccessToken(SECRET, none, T0), "invalid", none);
    for (const header of [
      { alg: "none", typ: "JWT" },
      { alg: "RS256", typ: "JWT" },
      { alg: "HS512", typ: "JWT" },
      { typ: "JWT", alg: "HS256" },
      { alg: "HS256", typ: "JWT", kid: "x" },
      { alg: "HS256" },
    ]) {
      const token = forge(header, goodPayload);
      expectAuthError(() => verifyAccessToken(SECRET, token, T0), "invalid", token);
    }
  });

  it("refuses tokens the library itself makes with alg none or RS256 (no algorithm confusion)", () => {
    const none = jwt.sign(goodPayload, "", { algorithm: "none" });
    expectAuthError(() => verifyAccessToken(SECRET, none, T0), "invalid", none);
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rs = jwt.sign(goodPayload, privateKey, { algorithm: "RS256" });
    expectAuthError(() => verifyAccessToken(SECRET, rs, T0), "invalid", rs);
    // HS256 keyed with the RSA public key (what a verifier that trusts the header would accept).
    const pem = publicKey.export({ type: "spki", format: "pem" });
    const confused = forge({ alg: "HS256", typ: "JWT" }, goodPayload, Buffer.from(pem));
    expectAuthError(() => verifyAccessToken(SECRET, confused, T0), "invalid", confused);
  });

  it("accepts tokens of a previous secret during a rotation, and only those it is given", () => {
    const old = signAccessToken(OTHER_SECRET, { sub: "acct-1", dev: "dev-1" }, { now: T0 });
    const current = signAccessToken(SECRET, { sub: "acct-2" }, { now: T0 });
    expect(verifyAccessToken([SECRET, OTHER_SECRET], old, T0).dev).toBe("dev-1");
    expect(verifyAccessToken([SECRET, OTHER_SECRET], current, T0).sub).toBe("acct-2");
    expectAuthError(() => verifyAccessToken([SECRET], old, T0), "invalid", old);
    // A previous secret's token still expires when it would have.
    expectAuthError(() => verifyAccessToken([SECRET, OTHER_SECRET], old, T0 + 900_000), "expired");
    expect(() => verifyAccessToken([], current, T0)).toThrow(/no JWT secret/);
  });

  it("refuses other token types and malformed claims, even correctly signed", () => {
    const header = { alg: "HS256", typ: "JWT" };
    for (const payload of [
      { ...goodPayload, typ: "refresh" },
      { ...goodPayload, typ: undefined },
      { ...goodPayload, sub: "" },
      { ...goodPayload, sub: 42 },
      { ...goodPayload, dev: 7 },
      { ...goodPayload, exp: "soon" },
      { ...goodPayload, iat: 1.5 },
      { ...goodPayload, exp: goodPayload.iat },
      [goodPayload],
      "access",
      null,
    ]) {
      const token = forge(header, payload);
      expectAuthError(() => verifyAccessToken(SECRET, token, T0), "invalid", token);
    }
    const notJson = `${b64(header)}.${Buffer.from("{nope").toString("base64url")}`;
    const token = `${notJson}.${hmac(SECRET, notJson)}`;
    expectAuthError(() => verifyAccessToken(SECRET, token, T0), "invalid", token);
  });

  it("refuses garbage and over-long tokens as invalid without echoing them", () => {
    const valid = signAccessToken(SECRET, { sub: "acct-1" }, { now: T0 });
    const garbage = [
      "",
      ".",
      "..",
      "a.b.c",
      "not a token at all",
      `${valid}.extra`,
      valid.replace(".", ".="),
      `${valid}==`,
      "Bearer " + valid,
      "\u0000\u0001.\u0002.\u0003",
      "%%%.%%%.%%%",
    ];
    for (const token of garbage) {
      expectAuthError(() => verifyAccessToken(SECRET, token, T0), "invalid", token);
    }
    const long = `${valid}${"A".repeat(MAX_TOKEN_LENGTH)}`;
    expectAuthError(() => verifyAccessToken(SECRET, long, T0), "invalid", long);
    const notString = 42 as unknown as string;
    expectAuthError(() => verifyAccessToken(SECRET, notString, T0), "invalid");
  });

  it("refuses short secrets and bad arguments when signing", () => {
    const short = new Uint8Array(31);
    expect(() => signAccessToken(short, { sub: "a" }, {})).toThrow(WeftError);
    expect(() => verifyAccessToken(short, "a.b.c")).toThrow(/at least 32 bytes/);
    expect(() => signAccessToken(SECRET, { sub: "" }, {})).toThrow(/sub/);
    expect(() => signAccessToken(SECRET, { sub: "a", dev: "" }, {})).toThrow(/dev/);
    for (const ttlSeconds of [0, -1, 1.5, 86_401, Number.NaN]) {
      expect(() => signAccessToken(SECRET, { sub: "a" }, { ttlSeconds })).toThrow(/ttlSeconds/);
    }
    expect(() => signAccessToken(SECRET, { sub: "a" }, { now: Number.NaN })).toThrow(/now/);
  });
});

describe("refresh tokens", () => {
  it("are 32 random bytes in base64url with a hex SHA-256 hash", () => {
    const { token, hash } = newRefreshToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRefreshToken(token)).toBe(hash);
    expect(hashRefreshToken(token)).toBe(hashRefreshToken(token));
  });

  it("differ every time, as do family ids", () => {
    const tokens = new Set(Array.from({ length: 50 }, () => newRefreshToken().token));
    expect(tokens.size).toBe(50);
    const families = new Set(Array.from({ length: 50 }, () => newFamilyId()));
    expect(families.size).toBe(50);
    for (const id of families) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("refuses to hash something that is not one of ours, without echoing it", () => {
    for (const token of ["", "short", `${newRefreshToken().token}x`, "=".repeat(43)]) {
      expectAuthError(() => hashRefreshToken(token), "invalid", token);
    }
  });
});

describe("RevokedFamilies", () => {
  it("holds a family for keepMs after its revocation, then lets it go", () => {
    let now = T0;
    const revoked = new RevokedFamilies(60_000, () => now);
    revoked.add("f1");
    revoked.add("f2", T0 - 50_000);
    revoked.add("f2", T0); // the earliest revocation counts
    expect([revoked.has("f1"), revoked.has("f2"), revoked.has("f3")]).toEqual([true, true, false]);
    expect(revoked.horizon).toBe(T0 - 60_000);
    now = T0 + 20_000;
    revoked.prune();
    expect([revoked.has("f1"), revoked.has("f2"), revoked.size]).toEqual([true, false, 1]);
    now = T0 + 61_000;
    expect(revoked.has("f1")).toBe(false);
    expect(revoked.size).toBe(0);
  });
});

describe("TokenBucket", () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms) => void (t += ms) };
  };

  it("allows a burst of capacity, then refuses with the wait in whole seconds", () => {
    const time = clock();
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 0.5, now: time.now });
    expect(bucket.take("ip")).toEqual({ ok: true });
    expect(bucket.take("ip")).toEqual({ ok: true });
    expect(bucket.take("ip")).toEqual({ ok: true });
    // Empty; one token takes 2 s at 0.5 per second.
    expect(bucket.take("ip")).toEqual({ ok: false, retryAfterSeconds: 2 });
    time.advance(1500);
    expect(bucket.take("ip")).toEqual({ ok: false, retryAfterSeconds: 1 });
    time.advance(500);
    expect(bucket.take("ip")).toEqual({ ok: true });
    // Keys are independent.
    expect(bucket.take("other")).toEqual({ ok: true });
  });

  it("refills lazily up to capacity, no further", () => {
    const time = clock();
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 10, now: time.now });
    expect(bucket.take("k", 5)).toEqual({ ok: true });
    time.advance(200); // 2 tokens back
    expect(bucket.take("k", 3)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(bucket.take("k", 2)).toEqual({ ok: true });
    time.advance(3_600_000);
    expect(bucket.take("k", 5)).toEqual({ ok: true });
    expect(bucket.take("k", 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
  });

  it("gives retryAfter for a costly request and takes nothing when refusing", () => {
    const time = clock();
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 1, now: time.now });
    expect(bucket.take("k", 10)).toEqual({ ok: true });
    expect(bucket.take("k", 4)).toEqual({ ok: false, retryAfterSeconds: 4 });
    time.advance(3000);
    expect(bucket.take("k", 4)).toEqual({ ok: false, retryAfterSeconds: 1 });
    time.advance(1000);
    expect(bucket.take("k", 4)).toEqual({ ok: true });
  });

  it("survives a clock stepping backwards", () => {
    const time = clock();
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1, now: time.now });
    expect(bucket.take("k").ok).toBe(true);
    time.advance(-60_000);
    expect(bucket.take("k")).toEqual({ ok: false, retryAfterSeconds: 1 });
    time.advance(60_000);
    expect(bucket.take("k")).toEqual({ ok: false, retryAfterSeconds: 1 });
    time.advance(1000);
    expect(bucket.take("k").ok).toBe(true);
  });

  it("tracks at most maxKeys, forgetting the least recently used", () => {
    const time = clock();
    const bucket = new TokenBucket({
      capacity: 1,
      refillPerSecond: 0.001,
      now: time.now,
      maxKeys: 3,
    });
    for (const key of ["a", "b", "c"]) expect(bucket.take(key).ok).toBe(true);
    expect(bucket.take("a").ok).toBe(false); // touches a: b is now the oldest
    expect(bucket.take("d").ok).toBe(true); // evicts b
    expect(bucket.size).toBe(3);
    expect(bucket.take("a").ok).toBe(false); // still tracked
    expect(bucket.take("c").ok).toBe(false); // still tracked
    expect(bucket.take("b").ok).toBe(true); // forgotten, so full again; evicts d
    expect(bucket.take("d").ok).toBe(true);
    for (let i = 0; i < 10_000; i++) bucket.take(`rotating-${i}`);
    expect(bucket.size).toBe(3);
  });

  it("defaults to 100,000 keys", () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1, now: () => 0 });
    for (let i = 0; i < 100_050; i++) bucket.take(`k${i}`);
    expect(bucket.size).toBe(100_000);
  });

  it("refuses bad options and costs", () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 })).toThrow(/capacity/);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: Number.NaN })).toThrow(/refill/);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: 1, maxKeys: 0 })).toThrow(
      /maxKeys/,
    );
    const bucket = new TokenBucket({ capacity: 2, refillPerSecond: 1 });
    expect(() => bucket.take("k", 3)).toThrow(/cost/);
    expect(() => bucket.take("k", 0)).toThrow(/cost/);
  });
});

describe("AuthError", () => {
  it("is a ProtocolError with the matching wire code and a finer reason", () => {
    for (const reason of ["expired", "invalid", "revoked", "unauthorized"] as const) {
      const error = new AuthError(reason, "no");
      expect(error).toBeInstanceOf(ProtocolError);
      expect(error).toBeInstanceOf(WeftError);
      expect(error.code).toBe("PROTOCOL");
      expect(error.wireCode).toBe("unauthorized");
      expect(error.httpStatus).toBe(401);
      expect(error.reason).toBe(reason);
      expect(error.name).toBe("AuthError");
    }
    const forbidden = new AuthError("forbidden", "not a member");
    expect(forbidden.wireCode).toBe("forbidden");
    expect(forbidden.httpStatus).toBe(403);
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("secret rotation configuration", () => {
  it("reads WEFT_RELAY_JWT_PREVIOUS_SECRETS, and refuses a short one without echoing it", () => {
    const a = "a".repeat(32);
    const b = "b".repeat(40);
    const config = parseConfig([], { WEFT_RELAY_JWT_PREVIOUS_SECRETS: `${a}, ${b}` });
    expect(config !== "help" && config.jwtPreviousSecrets).toEqual([a, b]);
    const short = "short-but-secret";
    const error = catchError(() =>
      parseConfig([], { WEFT_RELAY_JWT_PREVIOUS_SECRETS: `${a},${short}` }),
    );
    expect((error as Error).message).toMatch(/at least 32 characters/);
    expect((error as Error).message).not.toContain(short);
  });
});
