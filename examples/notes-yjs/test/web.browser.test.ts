// The notes page in Chromium, served by serve.mjs (Vite build, relay behind /v1), edited
// together with a Node instance through a relay process: the tab joins with an invite, shows
// the Node instance's notes and presence, and what is typed in the tab reaches Node.
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import type { Browser, Page } from "playwright-core";
import {
  type PageServer,
  type RelayProcess,
  launchChromium,
  startRelayProcess,
} from "@weft/test-support";
import { aliases } from "../../../vitest.aliases.js";
import { type Notes, openNotes } from "../index.mjs";
import { serveNotes } from "../serve.mjs";

let relay: RelayProcess | undefined;
let server: PageServer | undefined;
let browser: Browser | undefined;
const open: Notes[] = [];
const pages: Page[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  [server, browser] = await Promise.all([
    serveNotes({ relay: relay.url, alias: aliases }),
    launchChromium(),
  ]);
});
afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
  for (const notes of open.splice(0)) await notes.close();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await relay?.dispose();
});

test("a tab and a Node instance edit the same notes and see each other", async () => {
  const errors: string[] = [];
  // Node reaches the relay where the tab does: at the page's origin.
  const ana = await openNotes({
    relay: new URL(server!.url).origin,
    user: "ana",
    password: "ana-correct-horse",
    onError: (e) => errors.push(`ana: ${e.message}`),
  });
  open.push(ana);
  ana.add("from ana in Node");
  const invite = await ana.invite();

  const page = await browser!.newPage();
  pages.push(page);
  page.on("pageerror", (e) => errors.push(`tab: ${e.message}`));
  await page.goto(server!.url);
  await page.getByLabel("User").fill("ben");
  await page.getByLabel("Password").fill("ben-correct-horse");
  await page.getByLabel("Invite").fill(invite);
  await page.getByRole("button", { name: "Open the notes" }).click();

  // The tab shows ana's note and ana's presence.
  await page.getByRole("listitem").filter({ hasText: "from ana in Node" }).waitFor();
  await page.locator("#here", { hasText: "ana" }).waitFor();

  // A note typed in the tab reaches Node, and ana sees ben.
  await page.getByLabel("New note", { exact: true }).fill("from ben in the tab");
  await page.getByRole("button", { name: "Add" }).click();
  await ana.until((a) => a.notes().includes("from ben in the tab"));
  await ana.until((a) => a.present().includes("ben"));

  // A note added in Node appears in the tab, after the tab's own.
  ana.add("again from ana");
  await page.getByRole("listitem").filter({ hasText: "again from ana" }).waitFor();
  expect(await page.getByRole("listitem").allTextContents()).toEqual(ana.notes());
  expect(await page.locator("#error").textContent()).toBe("");
  expect(errors).toEqual([]);
});
