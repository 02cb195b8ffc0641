// The dashboard in a real browser (Debian's chromium through playwright-core), against a real
// relay and two real agents: a file made on B shows up on A's page, a conflict is resolved with
// "Keep theirs" and A's disk follows, an earlier version is restored from the history panel.
// Also the CLI around it: `weft ui` prints the running daemon's URL, refuses next to a daemon
// without the dashboard, and the commands that need the replica point to the dashboard. And the
// Members and Devices panels: an owner names this device, removes a lost one, demotes B (the
// relay then refuses B's writes) and removes B (B's agent stops, removed); B, not an owner, is
// refused.
import type { ChildProcess } from "node:child_process";
import { readFile, readdir, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AccountLogin } from "../src/account/index.js";
import { Home } from "../src/home/index.js";
import {
  type Device,
  type RelayProcess,
  type UiProcess,
  chromiumAvailable,
  enroll,
  enrollAs,
  launchChromium,
  makeDevice,
  shareFolder,
  startRelayProcess,
  startUi,
  waitFor,
} from "@weft/test-support";

const browserHere = chromiumAvailable(); // throws under CI when chromium is missing
const screenshotPath = fileURLToPath(new URL("../../../docs/dashboard.png", import.meta.url));
const membersShotPath = fileURLToPath(
  new URL("../../../docs/dashboard-members.png", import.meta.url),
);
const folderShotPath = fileURLToPath(
  new URL("../../../docs/dashboard-folder.png", import.meta.url),
);

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
/** A second device of ana's account, never synced: the lost laptop the Devices panel removes. */
let laptop: Device & { dispose(): Promise<void> };
/** Cam's device: joins with the invite ana makes on the page. */
let cam: Device & { dispose(): Promise<void> };
let folderId: string;
let browser: Browser;
let page: Page;
let anaUi: UiProcess | undefined;
let benSync: ChildProcess | undefined;
let benUi: UiProcess | undefined;
const pageProblems: string[] = [];

const contentIs = (path: string, text: string) =>
  readFile(path, "utf8").then(
    (t) => t === text,
    () => false,
  );

function stopped(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

/**
 * Writes a file dated a few seconds back, so the next scan takes it at once as a finished edit
 * (a file written in the last second is left for a later pass).
 */
async function editDated(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  const past = new Date(Date.now() - 5000);
  await utimes(path, past, past);
}

/** Opens the printed URL; the token is swapped for a cookie and leaves the address bar. */
async function openDashboard(ui: UiProcess): Promise<void> {
  await page.goto(ui.url);
  pageProblems.length = 0; // the previous page's stream, cut when its daemon stopped, is no problem
  expect(page.url()).toBe(`${ui.origin}/`);
  await page.getByRole("heading", { name: "folder", exact: true }).waitFor();
}

beforeAll(async () => {
  if (!browserHere) return;
  relay = await startRelayProcess();
  [ana, ben, laptop, cam] = await Promise.all([
    makeDevice("ana"),
    makeDevice("ben"),
    makeDevice("laptop"),
    makeDevice("cam"),
  ]);
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url), enroll(cam, relay.url)]);
  [folderId] = await Promise.all([shareFolder(ana, ben), enrollAs(laptop, relay.url, "ana")]);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  page.on("pageerror", (error) => pageProblems.push(error.message));
  page.on("console", (m) => {
    if (m.type() === "error") pageProblems.push(m.text());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const child of [anaUi?.child, benSync]) if (child) await stopped(child);
  await ana?.dispose();
  await ben?.dispose();
  await laptop?.dispose();
  await cam?.dispose();
  await relay?.dispose();
});

describe.skipIf(!browserHere)("the dashboard in a browser", () => {
  test("a file created on B appears on A's page; weft ui finds the running dashboard", async () => {
    anaUi = await startUi(ana);
    benSync = ben.spawn(["sync", "--rescan", "30"]);
    await openDashboard(anaUi);
    await page.getByText("Up to date").waitFor({ timeout: 20_000 });

    await writeFile(join(ben.folder, "from-ben.txt"), "made on ben\n");
    const activity = page.getByRole("list", { name: "Recent activity" });
    await activity
      .getByRole("listitem")
      .filter({ hasText: "from-ben.txt" })
      .filter({ hasText: "Received" })
      .waitFor({ timeout: 30_000 });
    expect(await readFile(join(ana.folder, "from-ben.txt"), "utf8")).toBe("made on ben\n");
    await page
      .getByRole("list", { name: "Other devices" })
      .getByText(/online/)
      .waitFor();

    // The URL is in WEFT_HOME/ui.json, readable by this user only; a second weft ui prints it.
    expect((await stat(join(ana.home, "ui.json"))).mode & 0o777).toBe(0o600);
    const again = await ana.ok(["ui"]);
    expect(again).toMatchObject({ url: anaUi.url, started: false });
    // Other commands go through the running daemon (its control socket) rather than refuse.
    const history = await ana.ok(["history", join(ana.folder, "from-ben.txt")]);
    expect(history).toMatchObject({ path: "from-ben.txt", deleted: false });
    const refused = await ben.run(["ui"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /running \(pid \d+\) without the dashboard; stop it, then run weft ui/,
    );

    // Narrow screens: nothing wider than 400 px.
    await page.setViewportSize({ width: 400, height: 800 });
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    expect(width).toBeLessThanOrEqual(400);
    await page.setViewportSize({ width: 1000, height: 900 });
  }, 60_000);

  test("a conflict shows on the page; Keep theirs puts B's version on A's disk and removes the copy", async () => {
    expect(await anaUi!.stop()).toBe(0);
    expect(await stopped(benSync!)).toBe(0);
    // B edits and syncs; then A, which has not heard of it, edits too and syncs: A's version is
    // the later one and keeps the name, B's becomes the conflict copy beside it.
    await editDated(join(ben.folder, "from-ben.txt"), "ben's offline edit\n");
    await ben.ok(["sync", "--once"]);
    await editDated(join(ana.folder, "from-ben.txt"), "ana's offline edit\n");
    await ana.ok(["sync", "--once"]);
    const copies = async () =>
      (await readdir(ana.folder)).filter((n) => n.includes(".sync-conflict-"));
    expect(await copies()).toHaveLength(1);
    expect(await readFile(join(ana.folder, "from-ben.txt"), "utf8")).toBe("ana's offline edit\n");

    anaUi = await startUi(ana);
    // B serves a dashboard too: the members test asks it, as B, for what only an owner may do.
    benUi = await startUi(ben, ["sync", "--ui", "--rescan", "30"]);
    benSync = benUi.child;
    await openDashboard(anaUi);
    const panel = page.getByRole("region", { name: /Conflicts \(1\)/ });
    await panel.waitFor({ timeout: 20_000 });
    await panel.getByText("from-ben.txt", { exact: true }).waitFor();
    // Each version says whose it is: A's own is shown, B's is the copy, named with B's id.
    const benId = (await ben.ok(["init"]))["deviceId"] as string;
    const benShort = benId.replace(/-/g, "").slice(0, 7);
    const versions = panel.getByRole("listitem").filter({ hasText: /^\s*(Shown now|Copy)/ });
    await expect(versions.nth(0).textContent()).resolves.toMatch(
      /^\s*Shown now · from this device ·/,
    );
    await expect(versions.nth(1).textContent()).resolves.toMatch(
      new RegExp(
        `^\\s*Copy from-ben\\.sync-conflict-\\d{8}-\\d{6}-${benShort}\\.txt · from device ${benShort} ·`,
      ),
    );
    await writeFile(join(ben.folder, "plans.md"), "# plans\n");
    await page
      .getByRole("list", { name: "Recent activity" })
      .getByRole("listitem")
      .filter({ hasText: "plans.md" })
      .waitFor({ timeout: 20_000 });
    if (process.env["WEFT_SCREENSHOT"] === "1") {
      await page
        .getByRole("list", { name: "Other devices" })
        .getByText(/^online/)
        .waitFor();
      await page.setViewportSize({ width: 960, height: 400 }); // the page's own height
      await page.screenshot({ path: screenshotPath, fullPage: true });
      await page.setViewportSize({ width: 1000, height: 900 });
    }

    await page.getByRole("button", { name: "Keep theirs" }).click();
    await waitFor(
      () => contentIs(join(ana.folder, "from-ben.txt"), "ben's offline edit\n"),
      20_000,
      "B's version on A's disk",
    );
    await waitFor(async () => (await copies()).length === 0, 20_000, "the conflict copy to go");
    await panel.waitFor({ state: "detached", timeout: 20_000 });
    await page.getByRole("status").getByText("Kept theirs of from-ben.txt").waitFor();
    // The resolution travels: B ends up with the same file and no copy either.
    await waitFor(
      async () =>
        (await contentIs(join(ben.folder, "from-ben.txt"), "ben's offline edit\n")) &&
        !(await readdir(ben.folder)).some((n) => n.includes(".sync-conflict-")),
      20_000,
      "the resolution on B",
    );
  }, 60_000);

  test("an earlier version is restored from the history panel and the file on disk changes", async () => {
    const file = join(ana.folder, "notes.txt");
    const activity = page.getByRole("list", { name: "Recent activity" });
    const sent = activity
      .getByRole("listitem")
      .filter({ hasText: "notes.txt" })
      .filter({ hasText: "Sent" });
    await writeFile(file, "version one\n");
    await sent.waitFor({ timeout: 20_000 });
    await writeFile(file, "version two, longer\n");
    await sent.filter({ hasText: "2 times" }).waitFor({ timeout: 20_000 });

    await page.getByText("History", { exact: true }).click();
    await page.getByLabel(/Find a file/).fill("notes");
    await page.getByRole("button", { name: "notes.txt" }).click();
    const restore = page.getByRole("button", { name: /Restore the version of .*12 B/ });
    await restore.click({ timeout: 20_000 });
    await waitFor(() => contentIs(file, "version one\n"), 20_000, "the restored version on disk");
    await page
      .getByRole("status")
      .getByText(/Restored notes\.txt/)
      .waitFor();
    expect(pageProblems).toEqual([]);

    // Stopped, the daemon removes ui.json and its URL stops working; the next start has a new one.
    const old = anaUi!;
    expect(await old.stop()).toBe(0);
    await expect(stat(join(ana.home, "ui.json"))).rejects.toThrow();
    anaUi = await startUi(ana, ["sync", "--ui"]);
    expect(anaUi.token).not.toBe(old.token);
    const stale = await page.request.get(`${anaUi.origin}/?token=${old.token}`, {
      maxRedirects: 0,
    });
    expect(stale.status()).toBe(401);
  }, 60_000);
  test("Pause holds the folder until Resume; ignore rules are saved and sync; problems list with times", async () => {
    await openDashboard(anaUi!); // restarted by the test before, on a new port
    const card = page.getByRole("article", { name: "folder" });
    await card.getByText("Up to date", { exact: true }).waitFor({ timeout: 20_000 });
    await card.getByRole("button", { name: "Pause" }).click();
    await card.getByText("Paused on this device: nothing is sent or received").waitFor();
    const anaFolder = async () =>
      ((await ana.ok(["status"]))["folders"] as { state: string; connection: string }[])[0]!;
    expect(await anaFolder()).toMatchObject({ state: "paused", connection: "stopped" });
    // B's new file reaches the relay (B is in sync), but not A while paused.
    const benFolder = async () =>
      ((await ben.ok(["status"]))["folders"] as Record<string, unknown>[])[0]!;
    const before = (await benFolder())["files"] as number;
    await writeFile(join(ben.folder, "while-paused.txt"), "sent while A is paused\n");
    await waitFor(
      async () => {
        const b = await benFolder();
        return b["connection"] === "online" && b["pendingOut"] === 0 && b["files"] === before + 1;
      },
      20_000,
      "B to send while-paused.txt",
    );
    await expect(stat(join(ana.folder, "while-paused.txt"))).rejects.toThrow(/ENOENT/);
    await card.getByRole("button", { name: "Resume" }).click();
    await waitFor(
      () => contentIs(join(ana.folder, "while-paused.txt"), "sent while A is paused\n"),
      20_000,
      "B's file on A after Resume",
    );
    await card.getByText("Up to date", { exact: true }).waitFor({ timeout: 20_000 });

    // Ignore rules: the folder's .weftignore, saved from the page, on A's disk and then on B's.
    await card.getByText("Ignore rules", { exact: true }).click();
    const rules = card.getByLabel(/^\.weftignore/);
    expect(await rules.inputValue()).toBe("");
    await rules.fill("*.log\nbuild/\n");
    await card.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").getByText("Saved the ignore rules of folder").waitFor();
    expect(await readFile(join(ana.folder, ".weftignore"), "utf8")).toBe("*.log\nbuild/\n");
    await waitFor(
      () => contentIs(join(ben.folder, ".weftignore"), "*.log\nbuild/\n"),
      20_000,
      "the rules on B",
    );

    // The problems log: a symbolic link is left alone, said so with its time.
    await symlink("notes.txt", join(ana.folder, "link-to-notes"));
    const problems = card.getByRole("list", { name: "Problems" });
    const item = problems.getByRole("listitem").filter({ hasText: "link-to-notes" });
    await item.waitFor({ timeout: 20_000 });
    await expect(item.textContent()).resolves.toMatch(
      /Left alone link-to-notes: symbolic links are not synced \(skipped\) · .+ \(just now\)/,
    );
    if (process.env["WEFT_SCREENSHOT"] === "1") {
      await card.getByRole("button", { name: "Pause" }).click();
      await card.getByText(/^Paused on this device/).waitFor();
      await card.screenshot({ path: folderShotPath });
      await card.getByRole("button", { name: "Resume" }).click();
      await card.getByText("Up to date", { exact: true }).waitFor({ timeout: 20_000 });
    }
    expect(pageProblems).toEqual([]);
  }, 60_000);

  test("Members and Devices: an owner renames this device, removes a lost one, demotes and removes B; B is refused", async () => {
    await openDashboard(anaUi!); // restarted by the test before, on a new port
    // B, an editor, is refused what only an owner may do, in plain words, through B's own dashboard.
    await page.request.get(benUi!.url, { maxRedirects: 0 }); // the token becomes B's cookie
    const asBen = (path: string, data: unknown) =>
      page.request.post(`${benUi!.origin}${path}`, {
        data,
        headers: { origin: benUi!.origin, "x-weft-ui": "1" },
      });
    const refused = await asBen("/api/members/remove", { folder: folderId, user: "ana" });
    expect(refused.status()).toBe(403);
    expect(await refused.json()).toEqual({ error: "only an owner can remove members" });
    const benView = await page.request.get(`${benUi!.origin}/api/members?folder=${folderId}`);
    expect(await benView.json()).toMatchObject({ you: { user: "ben", role: "editor" } });

    // Devices: name this device, then remove the lost laptop (after confirming).
    const devices = page.getByRole("region", { name: "Devices", exact: true });
    await devices.getByText("Devices", { exact: true }).click();
    await devices.getByLabel("Name of this device").fill("ana desk");
    await devices.getByRole("button", { name: "Rename" }).click();
    await page.getByRole("status").getByText("This device is now called ana desk").waitFor();
    const anaDevices = devices.getByRole("list", { name: "Devices of ana" });
    await anaDevices.getByText(/^ana desk \(.+\) · this device$/).waitFor();
    await devices.getByRole("button", { name: "Remove…" }).click();
    await devices.getByRole("button", { name: "Remove the device" }).click();
    await page
      .getByRole("status")
      .getByText(/^Removed device /)
      .waitFor();
    await anaDevices.getByText(/^removed /).waitFor();
    const cut = await laptop.run(["device", "list"]);
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(/this device was removed from its account/);

    // Members: both, with their roles and devices; this device by its new name.
    const card = page.getByRole("article", { name: "folder" });
    await card.getByText("Members", { exact: true }).click();
    const members = card.getByRole("list", { name: "Members" });
    await members.getByText("ben", { exact: true }).waitFor();
    await expect(members.getByRole("combobox", { name: "Role of ana" }).inputValue()).resolves.toBe(
      "owner",
    );
    await card
      .getByRole("list", { name: "Devices of ana" })
      .getByText(/^ana desk \(.+\) · this device$/)
      .waitFor();
    await card
      .getByRole("list", { name: "Devices of ben" })
      .getByText(/^device /)
      .waitFor();
    // The last owner cannot step down: the relay's reason shows on the page.
    await members.getByRole("combobox", { name: "Role of ana" }).selectOption("editor");
    await card
      .getByRole("alert")
      .getByText(/a folder needs at least one owner/)
      .waitFor();

    // Ben becomes a viewer: the relay refuses his writes from now on.
    const benRole = members.getByRole("combobox", { name: "Role of ben" });
    expect(await benRole.inputValue()).toBe("editor");
    await benRole.selectOption("viewer");
    await page.getByRole("status").getByText("ben is now viewer").waitFor();
    const benSession = await AccountLogin.open(new Home(ben.home));
    await expect(
      benSession.request("POST", `/v1/folders/${folderId}/blobs/batch`, {}),
    ).rejects.toThrow(/this needs the editor role/);

    // Removing ben (confirmed) cuts him off and changes the folder's key, as the CLI does.
    await members.getByRole("button", { name: "Remove…" }).click();
    if (process.env["WEFT_SCREENSHOT"] === "1") {
      const box = (await card.locator("details.members").boundingBox())!;
      const pad = 16;
      await page.screenshot({
        path: membersShotPath,
        clip: {
          x: box.x - pad,
          y: box.y - 4,
          width: box.width + 2 * pad,
          height: box.height + 4 + pad,
        },
      });
    }
    await members.getByRole("button", { name: "Remove ben" }).click();
    await page.getByRole("status").getByText("Removed ben; the folder's key changed").waitFor();
    await members.getByText("ben", { exact: true }).waitFor({ state: "detached" });
    const after = await page.request.get(`${anaUi!.origin}/api/members?folder=${folderId}`);
    expect(await after.json()).toMatchObject({ epoch: 1, rotationDue: false });
    await waitFor(
      async () =>
        ((await ben.ok(["status"]))["folders"] as { state: string }[])[0]!.state === "removed",
      20_000,
      "ben's agent to see the removal",
    );
    // An invite made on the page (a viewer's), shown once; cam joins with it. Never logged.
    await card.getByLabel("Invite someone as").selectOption("viewer");
    await card.getByRole("button", { name: "Make an invite" }).click();
    const inviteText = await card.getByLabel("The invite").inputValue();
    expect(inviteText).toMatch(/^weft1:/);
    const joined = await cam.ok(["folder", "join", "-"], { input: `${inviteText}\n` });
    expect(joined).toMatchObject({ folderId, role: "viewer" });
    const logs = await readdir(join(ana.home, "logs"));
    for (const name of logs)
      expect(await readFile(join(ana.home, "logs", name), "utf8")).not.toContain(inviteText);
    // The browser logs the refused step-down (409) as a failed load; nothing else went wrong.
    expect(pageProblems.filter((p) => !/status of 409/.test(p))).toEqual([]);
  }, 60_000);

  test("a folder created on A's page syncs at once; B joins it from B's page with A's invite", async () => {
    const card = (name: string, p: Page = page) => p.getByRole("article", { name });
    const shared = join(ana.folder, "..", "projects");
    const add = page.getByRole("region", { name: "Add a folder" });
    await add.getByText("Add a folder", { exact: true }).click();
    await add.getByLabel(/^Folder on this computer/).fill(shared);
    await add.getByRole("button", { name: "Create" }).click();
    await page.getByRole("status").getByText(`Created ${shared}; syncing it now`).waitFor();
    // The running daemon syncs it without a restart: a file written there is sent.
    await card("projects").getByText("Up to date", { exact: true }).waitFor({ timeout: 20_000 });
    await writeFile(join(shared, "plan.txt"), "the plan\n");
    await card("projects")
      .getByRole("list", { name: "Recent activity" })
      .getByRole("listitem")
      .filter({ hasText: "plan.txt" })
      .filter({ hasText: "Sent" })
      .waitFor({ timeout: 20_000 });
    const created = ((await ana.ok(["folder", "list"]))["folders"] as { path: string }[]).map(
      (f) => f.path,
    );
    expect(created).toContain(shared);

    // A's invite (made on A's page), pasted into B's page: B's daemon fetches the folder.
    const projectsId = (
      (await ana.ok(["folder", "list"]))["folders"] as { path: string; folderId: string }[]
    ).find((f) => f.path === shared)!.folderId;
    const made = await page.request.post(`${anaUi!.origin}/api/members/invite`, {
      data: { folder: projectsId, role: "editor" },
      headers: { origin: anaUi!.origin, "x-weft-ui": "1" },
    });
    const { invite } = (await made.json()) as { invite: string };
    const benPage = await browser.newPage();
    try {
      await benPage.goto(benUi!.url);
      const into = join(ben.folder, "..", "projects");
      const benAdd = benPage.getByRole("region", { name: "Add a folder" });
      await benAdd.getByText("Add a folder", { exact: true }).click();
      await benAdd.getByLabel(/^Invite/).fill(invite);
      await benAdd.getByLabel(/^Into/).fill(into);
      await benAdd.getByRole("button", { name: "Join" }).click();
      await benPage.getByRole("status").getByText(`Joined into ${into}; syncing it now`).waitFor();
      await waitFor(() => contentIs(join(into, "plan.txt"), "the plan\n"), 20_000, "plan on B");
      await card("projects", benPage).getByText("you are editor of it").waitFor();
      // A join refused by the relay (the invite is used up) says so on the page.
      await benAdd.getByLabel(/^Invite/).fill(invite);
      await benAdd.getByLabel(/^Into/).fill(join(ben.folder, "..", "again"));
      await benAdd.getByRole("button", { name: "Join" }).click();
      await benAdd.getByRole("alert").waitFor();
    } finally {
      await benPage.close();
    }
  }, 60_000);
});
