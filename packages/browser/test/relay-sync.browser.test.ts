// A browser replica (a Chromium page, IndexedDB stores, the browser's WebSocket) and a Node
// replica sync a Yjs document and files through a real relay process: each sees the other's
// file byte for byte and the merged document, and the page, reopened from IndexedDB with no
// relay, still has both.
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser, Page } from "playwright-core";
import { WebSocket } from "ws";
import { MemoryBlobStore, MemoryStateStore, RelayAccount, Replica } from "@weft/core";
import { generateDeviceIdentity, ready } from "@weft/crypto";
import {
  type PageServer,
  type RelayProcess,
  launchChromium,
  startPageServer,
  startRelayProcess,
} from "@weft/test-support";
import { aliases } from "../../../vitest.aliases.js";
import type { PageReplica } from "./page-replica/main.js";

let relay: RelayProcess | undefined;
let server: PageServer | undefined;
let browser: Browser | undefined;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  [server, browser] = await Promise.all([
    startPageServer({
      root: fileURLToPath(new URL("./page-replica/", import.meta.url)),
      relay: relay.url,
      alias: aliases,
    }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await browser?.close();
  await server?.close();
  await relay?.dispose();
});

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 101 + (i >>> 8)) & 0xff;
  return out;
}
const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Resolves once `check()` holds, re-checked on each change the replica reports. */
function until(replica: Replica, what: string, check: () => Promise<boolean>): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish(new Error(`the Node replica never saw ${what}`)), 20_000);
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      if (error) reject(error);
      else resolve();
    };
    const attempt = (): void => {
      check().then((ok) => ok && finish(), finish);
    };
    const off = replica.on("change", attempt);
    attempt();
  });
}

/**
 * Resolves once `check()` holds, asked again every 50 ms. (Playwright's `waitForFunction` takes a
 * promise for a truthy value and returns at once, so it cannot wait on the page's async API.)
 */
async function untilPage(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the page never saw ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Calls `window.weft[method](...args)` in the page. */
function inPage<M extends keyof PageReplica>(
  page: Page,
  method: M,
  ...args: Parameters<PageReplica[M]>
): Promise<Awaited<ReturnType<PageReplica[M]>>> {
  return page.evaluate(([m, a]) => (window.weft[m] as (...x: unknown[]) => unknown)(...a), [
    method,
    args,
  ] as const) as Promise<Awaited<ReturnType<PageReplica[M]>>>;
}

test("a Chromium page and a Node replica sync a Yjs document and files through a relay", async () => {
  await ready();
  const errors: string[] = [];
  // Node: ana makes the folder and invites the page. She reaches the relay where the page does,
  // at the page server's origin (an invite names its relay, and a page reaches only its own).
  const origin = new URL(server!.url).origin;
  const identity = generateDeviceIdentity();
  await RelayAccount.register({ relay: origin, user: "ana", password: "ana-correct-horse" });
  const account = await RelayAccount.login({
    relay: origin,
    user: "ana",
    password: "ana-correct-horse",
    identity,
  });
  const { folderId, keyring } = await account.createFolder();
  const invite = await account.createInvite(keyring, { role: "editor" });
  const sync = account.replicaOptions(folderId, { WebSocket });
  const node = await Replica.open({
    identity,
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs: new MemoryBlobStore(),
    ...sync,
  });
  cleanup.push(
    () => sync.remoteBlobs.close(),
    () => node.close(),
  );
  node.on("error", ({ error, context }) => errors.push(`node ${context}: ${error.message}`));
  node.start();

  // The browser: ben joins with the invite.
  const page = await browser!.newPage();
  cleanup.push(() => page.close());
  page.on("console", (m) => m.type() === "error" && errors.push(`page: ${m.text()}`));
  page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  page.on("response", (r) => r.status() >= 400 && errors.push(`page: ${r.status()} ${r.url()}`));
  await page.goto(server!.url);
  await inPage(page, "open", {
    user: "ben",
    password: "ben-correct-horse",
    invite,
    database: "weft-ben",
  });
  cleanup.push(() => inPage(page, "close"));

  // Both write at once: a file of several chunks each, and the same document.
  const fromNode = pattern(300_000, 1);
  await node.writeFile("from-node.bin", fromNode);
  (await node.doc("notes")).getText("body").insert(0, "node;");
  const fromPageHash = await inPage(page, "writePattern", "from-page.bin", 200_000, 2);
  await inPage(page, "append", "notes", "page;");

  // Node sees the page's file, byte for byte, and the page's edit.
  await until(node, "the page's file", () =>
    Promise.resolve(node.list().some((e) => e.path === "from-page.bin")),
  );
  expect(sha256(await node.readFile("from-page.bin"))).toBe(fromPageHash);
  expect(fromPageHash).toBe(sha256(pattern(200_000, 2)));
  const nodeText = async (): Promise<string> => (await node.doc("notes")).getText("body").toJSON();
  await until(node, "the page's edit", async () => (await nodeText()).length === 10);

  // The page sees Node's file and edit, and converges on the same text.
  const fromNodeHash = sha256(fromNode);
  await untilPage(
    "Node's file",
    async () => (await inPage(page, "hashOf", "from-node.bin")) === fromNodeHash,
  );
  await untilPage("Node's edit", async () => (await inPage(page, "text", "notes")).length === 10);
  expect(await inPage(page, "text", "notes")).toBe(await nodeText());
  expect(["node;page;", "page;node;"]).toContain(await nodeText());

  // What the page keeps is in IndexedDB: both files' sealed chunks, and its state.
  const stored = await inPage(page, "stored");
  expect(stored.chunkBytes).toBeGreaterThan(fromNode.length + 200_000);
  expect(stored.stateEntries).toBeGreaterThan(0);

  // Reopened from IndexedDB alone, with no relay, the page still has both files and the text.
  await inPage(page, "reopenOffline");
  expect(await inPage(page, "hashOf", "from-node.bin")).toBe(sha256(fromNode));
  expect(await inPage(page, "hashOf", "from-page.bin")).toBe(fromPageHash);
  expect(await inPage(page, "text", "notes")).toBe(await nodeText());
  expect(errors).toEqual([]);
});
