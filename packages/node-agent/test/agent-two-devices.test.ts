// Two devices of two accounts keep one folder in sync through a real relay process, driven by
// the real `weft` CLI: invite and join, create, edit, delete, rename, the executable bit, a
// concurrent edit (both contents kept), edit against delete (the edit survives), history and
// restore.
import { randomBytes } from "node:crypto";
import { chmod, readFile, readdir, rm, rename, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type ChunkId, type FolderId, ready } from "@weft/crypto";
import { HttpBlobStore } from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AccountLogin } from "../src/account/index.js";
import { Home } from "../src/home/index.js";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };

/** Every file under `dir` (not the agent's own), with its content, as a sorted object. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path);
      else out[path] = await readFile(join(dir, path), "utf8");
    }
  };
  await walk("");
  return Object.fromEntries(Object.entries(out).sort());
}

const syncBoth = async () => {
  await ana.ok(["sync", "--once"]);
  await ben.ok(["sync", "--once"]);
  await ana.ok(["sync", "--once"]);
};

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
}, 60_000);

afterAll(async () => {
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("two devices, two accounts, one folder", () => {
  test("an invite shares the folder; files, directories and the executable bit arrive intact", async () => {
    await writeFile(join(ana.folder, "hello.txt"), "hello from ana\n");
    await mkdir(join(ana.folder, "src/deep"), { recursive: true });
    await writeFile(join(ana.folder, "src/deep/run.sh"), "#!/bin/sh\necho hi\n");
    await chmod(join(ana.folder, "src/deep/run.sh"), 0o755);
    await mkdir(join(ana.folder, "empty-dir"));
    const { folderId } = await ana.ok(["folder", "create", ana.folder]);
    expect(folderId).toMatch(/^[a-z2-7]{26}$/);
    await ana.ok(["sync", "--once"]);

    const { invite } = await ana.ok(["folder", "invite", folderId as string, "--role", "editor"]);
    expect(invite).toMatch(/^weft1:/);
    // The invite goes in on stdin: it holds the secret that opens the folder key.
    const joined = await ben.ok(["folder", "join", "-", ben.folder], {
      input: `${invite as string}\n`,
    });
    expect(joined).toMatchObject({ folderId, role: "editor" });
    await ben.ok(["sync", "--once"]);

    expect(await tree(ben.folder)).toEqual(await tree(ana.folder));
    expect((await stat(join(ben.folder, "src/deep/run.sh"))).mode & 0o777).toBe(0o755);
    expect((await stat(join(ben.folder, "empty-dir"))).isDirectory()).toBe(true);
    // A second redeem of the same invite is refused with the relay's reason.
    const again = await ben.run([
      "folder",
      "join",
      invite as string,
      join(ben.folder, "..", "other"),
    ]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/invite was used already/);
  });

  test("edits, deletes and renames on either side converge", async () => {
    await writeFile(join(ben.folder, "hello.txt"), "hello from ben\n");
    await writeFile(join(ben.folder, "src/new.md"), "# new\n");
    await syncBoth();
    await rm(join(ana.folder, "src/new.md"));
    await rename(join(ana.folder, "src"), join(ana.folder, "code"));
    await syncBoth();
    await ben.ok(["sync", "--once"]);
    const expected = {
      "code/deep/run.sh": "#!/bin/sh\necho hi\n",
      "hello.txt": "hello from ben\n",
    };
    expect(await tree(ana.folder)).toEqual(expected);
    expect(await tree(ben.folder)).toEqual(expected);
  });

  test("a concurrent edit keeps both contents; edit against delete keeps the edit", async () => {
    await writeFile(join(ana.folder, "hello.txt"), "ana's offline edit\n");
    await writeFile(join(ben.folder, "hello.txt"), "ben's offline edit\n");
    await rm(join(ana.folder, "code/deep/run.sh"));
    await writeFile(join(ben.folder, "code/deep/run.sh"), "#!/bin/sh\necho edited\n");
    await syncBoth();
    await ben.ok(["sync", "--once"]);

    const a = await tree(ana.folder);
    expect(a).toEqual(await tree(ben.folder));
    const contents = Object.values(a);
    expect(contents).toContain("ana's offline edit\n");
    expect(contents).toContain("ben's offline edit\n");
    expect(a["code/deep/run.sh"]).toBe("#!/bin/sh\necho edited\n");
    const { conflicts } = await ana.ok(["conflicts"]);
    expect(conflicts).toHaveLength(1);
    expect((conflicts as { path: string }[])[0]!.path).toBe("hello.txt");
  });

  test("an invite --to one device holds no secret and works for that device only", async () => {
    const carol = await makeDevice("carol");
    try {
      const { deviceId } = await carol.ok(["init"]);
      await carol.ok(["account", "register", "--relay", relay.url, "--user", "carol"]);
      const folders = JSON.parse(await readFile(join(ana.home, "folders.json"), "utf8")) as {
        folderId: string;
      }[];
      const folderId = folders[0]!.folderId;
      const { invite } = await ana.ok(["folder", "invite", folderId, "--to", deviceId as string]);
      const decoded = JSON.parse(
        Buffer.from((invite as string).slice("weft1:".length), "base64url").toString(),
      ) as Record<string, unknown>;
      expect(decoded).toMatchObject({ to: deviceId });
      expect(decoded["secret"]).toBeUndefined();
      // Another device cannot use it; the one it names can.
      const wrong = await ben.run([
        "folder",
        "join",
        invite as string,
        join(ben.folder, "..", "x"),
      ]);
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toMatch(/this invite is for device/);
      await carol.ok(["folder", "join", "-", carol.folder], { input: invite as string });
      await carol.ok(["sync", "--once"]);
      expect(await tree(carol.folder)).toEqual(await tree(ana.folder));
    } finally {
      await carol.dispose();
    }
  });

  test("weft gc is for owners: the editor is refused, the owner's run reports what it kept", async () => {
    const refused = await ben.run(["gc", "--json"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/only a folder's owner/);
    // An upload never committed, as an agent killed between sending a chunk and recording its
    // version leaves: nothing references it, but it was stored just now.
    await ready();
    const folderId = (
      JSON.parse(await readFile(join(ana.home, "folders.json"), "utf8")) as { folderId: FolderId }[]
    )[0]!.folderId;
    const session = await AccountLogin.open(new Home(ana.home), relay.url);
    const orphan = randomBytes(32).toString("hex") as ChunkId;
    await new HttpBlobStore({ baseUrl: relay.url, folderId, token: () => session.token() }).put(
      orphan,
      randomBytes(200),
    );
    const onRelay = async () =>
      (await readdir(relay.dir, { recursive: true })).some((p) => p.endsWith(orphan));
    expect(await onRelay()).toBe(true);

    const { folders } = (await ana.ok(["gc"])) as {
      folders: { live: number; unreferenced: number; deleted: number; kept: number }[];
    };
    // Everything was stored within the relay's grace period (an hour by default): none goes,
    // and the one chunk nothing references is reported as kept.
    expect(folders[0]!.live).toBeGreaterThan(0);
    expect(folders[0]).toMatchObject({ unreferenced: 1, kept: 1, deleted: 0 });
    expect(await onRelay()).toBe(true);
    // The same report for people.
    const text = await ana.run(["gc"]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(
      `${ana.folder}: 0 chunks deleted, 1 kept (used recently), ${folders[0]!.live} in use`,
    );
  });

  test("history lists earlier versions and restore brings one back on both devices", async () => {
    const file = join(ana.folder, "notes.txt");
    await writeFile(file, "version one\n");
    await ana.ok(["sync", "--once"]);
    await writeFile(file, "version two, longer\n");
    await ana.ok(["sync", "--once"]);
    const { versions } = await ana.ok(["history", file]);
    expect((versions as { n: number }[]).length).toBeGreaterThanOrEqual(1);
    await ana.ok(["restore", file, "--version", "1"]);
    expect(await readFile(file, "utf8")).toBe("version one\n");
    await ben.ok(["sync", "--once"]);
    expect(await readFile(join(ben.folder, "notes.txt"), "utf8")).toBe("version one\n");

    // Deleted on one device, brought back on the other by the path it had.
    await rm(join(ben.folder, "notes.txt"));
    await ben.ok(["sync", "--once"]);
    await ana.ok(["sync", "--once"]);
    expect(
      await stat(file).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    const gone = await ana.ok(["history", file]);
    expect(gone).toMatchObject({ deleted: true });
    const n = (gone["versions"] as { size: number }[]).findIndex((v) => v.size === 20) + 1;
    await ana.ok(["restore", file, "--version", String(n)]);
    expect(await readFile(file, "utf8")).toBe("version two, longer\n");
    await ben.ok(["sync", "--once"]);
    expect(await readFile(join(ben.folder, "notes.txt"), "utf8")).toBe("version two, longer\n");
  });
});
