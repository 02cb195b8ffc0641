// A browser's fetch refuses to run as a method of anything but the window ("Illegal
// invocation"): the relay clients must call the fetch they hold as a plain function.
import type { ChunkId } from "@weft/crypto";
import { newFolderId, ready } from "@weft/crypto";
import { expect, test } from "vitest";
import { HttpBlobStore, RelayAccount } from "../src/client/index.js";

/** Answers every request with `body`, and throws as a browser's fetch does when misused. */
function browserLikeFetch(body: unknown, seen: string[]): typeof fetch {
  return function (this: unknown, input: string | URL): Promise<Response> {
    if (this !== undefined && this !== globalThis)
      throw new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation");
    seen.push(String(input));
    return Promise.resolve(
      new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } }),
    );
  } as typeof fetch;
}

test("RelayAccount calls its fetch as a plain function", async () => {
  const seen: string[] = [];
  const fetch = browserLikeFetch({ accountId: "a1" }, seen);
  const relay = "http://relay.invalid";
  await expect(
    RelayAccount.register({ relay, user: "ana", password: "pw", fetch }),
  ).resolves.toEqual({ accountId: "a1" });
  expect(seen).toEqual([`${relay}/v1/auth/register`]);
});

test("HttpBlobStore calls its fetch as a plain function", async () => {
  await ready();
  const seen: string[] = [];
  const id = "0".repeat(64) as ChunkId;
  const store = new HttpBlobStore({
    baseUrl: "http://relay.invalid",
    folderId: newFolderId(),
    token: "t",
    fetch: browserLikeFetch({ missing: [id] }, seen),
  });
  try {
    expect(await store.has([id])).toEqual([id]);
    expect(seen).toHaveLength(1);
  } finally {
    await store.close();
  }
});
