// Core's RelayAccount client against the real relay process: sign-up and login with a device,
// tokens that refresh (once, even when asked twice at once) and rotate, a folder and its key,
// invites by secret and to one device, clear errors without secrets, and two Replicas syncing
// through the relay with nothing but what the client hands them.
import { type DeviceIdentity, generateDeviceIdentity, ready } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  type ProtocolError,
  RelayAccount,
  RelaySession,
  type RelayTokens,
  Replica,
  WeftError,
  parseInvite,
} from "@weft/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, startRelayProcess } from "@weft/test-support";
import { SIGN_IN_ENDED } from "../src/server/index.js";

let relay: RelayProcess;
const replicas: Replica[] = [];

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
}, 60_000);
afterAll(async () => {
  await relay.dispose();
});
afterEach(async () => {
  for (const r of replicas.splice(0)) await r.close();
});

let users = 0;
/** A new account and a device logged in to it. */
async function signUp(
  identity: DeviceIdentity = generateDeviceIdentity(),
): Promise<{ account: RelayAccount; user: string; password: string }> {
  const user = `user-${++users}`;
  const password = `${user}-pass-phrase-${Math.random().toString(36).slice(2)}`;
  await RelayAccount.register({ relay: relay.url, user, password });
  const account = await RelayAccount.login({ relay: relay.url, user, password, identity });
  return { account, user, password };
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<WeftError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(WeftError);
  return outcome as WeftError;
}

const wire = (error: WeftError) => (error as ProtocolError).wireCode;

describe("accounts and tokens", () => {
  test("register, login; a taken name and a wrong password are refused in the relay's words, without the password", async () => {
    const { account, user, password } = await signUp();
    expect(account.accountId).toMatch(/./);
    expect(account.relay).toBe(relay.url);
    expect(await account.token()).toBe(account.tokens.accessToken);

    const taken = await rejection(RelayAccount.register({ relay: relay.url, user, password }));
    expect(wire(taken)).toBe("conflict");
    expect(taken.message).toBe("the relay refused POST /v1/auth/register: that user name is taken");
    expect(taken.message).not.toContain(password);

    const wrong = `${password}-wrong`;
    const refused = await rejection(
      RelayAccount.login({
        relay: relay.url,
        user,
        password: wrong,
        identity: generateDeviceIdentity(),
      }),
    );
    expect(wire(refused)).toBe("unauthorized");
    expect(refused.message).toMatch(/wrong user name or password/);
    expect(refused.message).not.toContain(wrong);
  });

  test("an unreachable relay is `unavailable`, naming the relay", async () => {
    const error = await rejection(
      RelayAccount.register({ relay: "http://127.0.0.1:1", user: "nobody", password: "12345678" }),
    );
    expect(wire(error)).toBe("unavailable");
    expect(error.message).toMatch(/cannot reach the relay at http:\/\/127\.0\.0\.1:1/);
    expect(error.message).not.toContain("12345678");
  });

  test("an expired access token refreshes once for concurrent callers of one session; the store sees the rotation", async () => {
    const identity = generateDeviceIdentity();
    const { account } = await signUp(identity);
    const saved: RelayTokens[] = [];
    const stale = { ...account.tokens, accessExpires: Date.now() - 1000 };
    const session = RelaySession.resume({
      relay: relay.url,
      tokens: stale,
      tokenStore: { save: (t) => void saved.push(t) },
    });
    // Two views of the device on one session (as the agent keeps them) share its refreshing.
    const resumed = RelayAccount.on(session, identity);
    const other = RelayAccount.on(session, identity);
    const [a, b] = await Promise.all([resumed.token(), other.token()]);
    expect(a).toBe(b);
    expect(saved).toHaveLength(1); // had both refreshed, the second would have ended the session
    expect(saved[0]!.refreshToken).not.toBe(stale.refreshToken);
    expect(await resumed.request("GET", "/v1/folders")).toEqual({ folders: [] });

    // The old refresh token, presented again, ends every session of the family.
    const live = resumed.tokens.accessToken; // unexpired, of the family the replay revokes
    const replay = RelayAccount.resume({ relay: relay.url, identity, tokens: stale });
    const ended = await rejection(replay.token());
    expect(wire(ended)).toBe("unauthorized");
    expect(ended.message).toMatch(/session with .* ended; log in again/);
    expect(ended.message).not.toContain(stale.refreshToken);
    // The family's access token, still minutes from expiry, is refused from then on: the relay
    // says why, and the client, whose refresh is refused too, says to log in again.
    expect(await call(relay.url, "GET", "/v1/folders", undefined, live)).toEqual({
      status: 401,
      json: { error: { code: "unauthorized", message: SIGN_IN_ENDED } },
    });
    const refused = await rejection(resumed.request("GET", "/v1/folders"));
    expect(wire(refused)).toBe("unauthorized");
    expect(refused.message).toMatch(/session with .* ended; log in again/);
    expect(wire(await rejection(resumed.refresh()))).toBe("unauthorized");
  });

  test("a replica whose sign-in ended elsewhere stops with 'log in again' instead of reconnecting with the refused token", async () => {
    const { account } = await signUp();
    const { folderId, keyring } = await account.createFolder();
    const replica = await Replica.open({
      identity: account.identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      ...account.replicaOptions(folderId, { WebSocket }),
    });
    replicas.push(replica);
    // What the replica reports first: the client's conclusion, not a reconnection that fails.
    const ended = new Promise<string>((resolve) =>
      replica.on("error", ({ error }) => resolve(error.message)),
    );
    await replica.syncOnce();
    // Another holder of the tokens (`weft account logout` in another process) signs out. The
    // relay ends the replica's session; its access token, minutes from expiry, is refused from
    // then on, so the replica asks for a fresh one, and the refresh says the session is over.
    await RelaySession.resume({ relay: relay.url, tokens: account.tokens }).logout();
    expect(await ended).toMatch(/^the session with .* ended; log in again/);
    expect(replica.connection.status).toBe("offline");
    expect(replica.connection.lastError?.message).toMatch(/session with .* ended; log in again/);
  });

  test("a token store that another process refreshed is adopted instead of refreshing again", async () => {
    const identity = generateDeviceIdentity();
    const { account } = await signUp(identity);
    const stale = { ...account.tokens, accessExpires: 0 };
    await account.refresh(); // "another process": stale.refreshToken is now used
    const current = account.tokens;
    let saves = 0;
    const resumed = RelayAccount.resume({
      relay: relay.url,
      identity,
      tokens: stale,
      tokenStore: {
        save: () => void saves++,
        load: () => Promise.resolve(current),
        exclusive: (refresh) => refresh(),
      },
    });
    expect(await resumed.token()).toBe(current.accessToken);
    expect(saves).toBe(0);
  });

  test("a device's public keys, checked against its id; an unknown one is not_found", async () => {
    const identity = generateDeviceIdentity();
    const { account } = await signUp(identity);
    const keys = await account.device(identity.deviceId);
    expect(keys.boxPublicKey).toEqual(identity.boxPublicKey);
    expect(keys.signPublicKey).toEqual(identity.signPublicKey);
    const missing = await rejection(account.device(generateDeviceIdentity().deviceId));
    expect(wire(missing)).toBe("not_found");
  });
});

describe("folders and invites", () => {
  test("a folder, an invite redeemed by another account, and two replicas syncing through the relay", async () => {
    const ana = await signUp();
    const ben = await signUp();
    const { folderId, keyring } = await ana.account.createFolder();
    // The relay keeps the key sealed to ana's device only.
    const stored = await ana.account.folderKeys(folderId);
    expect(stored.folderKey(0)).toEqual(keyring.folderKey(0));

    const invite = await ana.account.createInvite(keyring, { role: "editor", ttlSeconds: 600 });
    expect(invite).toMatch(/^weft1:/);
    const parsed = parseInvite(invite);
    expect(parsed).toMatchObject({ relay: relay.url, folderId });
    const joined = await ben.account.redeemInvite(invite);
    expect(joined).toMatchObject({ folderId, role: "editor", keyStored: true });
    expect(joined.keyring.folderKey(0)).toEqual(keyring.folderKey(0));
    expect((await ben.account.folderKeys(folderId)).epochs).toEqual([0]);

    const again = await rejection(ben.account.redeemInvite(invite));
    expect(wire(again)).toBe("conflict");
    expect(again.message).toBe(
      "the relay refused POST /v1/invites/…/redeem: the invite was used already",
    );
    expect(again.message).not.toContain(parsed.inviteId);

    const open = async (account: RelayAccount, ring = keyring) => {
      const replica = await Replica.open({
        identity: account.identity,
        folderId,
        keyring: ring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        ...account.replicaOptions(folderId, { WebSocket }),
      });
      replicas.push(replica);
      return replica;
    };
    const a = await open(ana.account);
    const b = await open(ben.account, joined.keyring);
    await a.writeFile("notes/hello.txt", new TextEncoder().encode("hello from ana"));
    await a.syncOnce();
    await b.syncOnce();
    expect(new TextDecoder().decode(await b.readFile("notes/hello.txt"))).toBe("hello from ana");
  });

  test("an invite to one device holds no secret and opens for that device only", async () => {
    const owner = await signUp();
    const guestDevice = generateDeviceIdentity();
    const guest = await signUp(guestDevice);
    const other = await signUp();
    const { keyring } = await owner.account.createFolder();
    const invite = await owner.account.createInvite(keyring, {
      role: "viewer",
      to: guestDevice.deviceId,
    });
    expect(parseInvite(invite).secret).toBeUndefined();
    const wrong = await rejection(other.account.redeemInvite(invite));
    expect(wrong.code).toBe("INVALID_ARGUMENT");
    expect(wrong.message).toMatch(/this invite is for device/);
    const joined = await guest.account.redeemInvite(invite);
    expect(joined).toMatchObject({ role: "viewer", keyStored: true });
    expect(joined.keyring.folderKey(0)).toEqual(keyring.folderKey(0));
  });

  test("a secret that does not open the key is INTEGRITY; a revoked invite is not_found; only owners invite", async () => {
    const owner = await signUp();
    const guest = await signUp();
    const { keyring } = await owner.account.createFolder();
    const invite = parseInvite(await owner.account.createInvite(keyring));
    const forged = {
      ...invite,
      secret: invite.secret!.replace(/^./, (c) => (c === "A" ? "B" : "A")),
    };
    const broken = await rejection(guest.account.redeemInvite(forged));
    expect(broken.code).toBe("INTEGRITY");
    expect(broken.message).not.toContain(invite.secret!);

    const second = await owner.account.createInvite(keyring);
    await owner.account.revokeInvite(second);
    expect(wire(await rejection(guest.account.redeemInvite(second)))).toBe("not_found");

    // The guest became an editor through the first invite; editors cannot invite.
    const refused = await rejection(guest.account.createInvite(keyring));
    expect(wire(refused)).toBe("forbidden");
    expect(() => parseInvite("weft1:not-an-invite")).toThrow(/not a weft invite/);
  });
});
