// Smoke test: the notes example against a real relay process (port 0). Two instances edit the
// same notes while one is offline and converge; each sees the other; and the command line, run
// as its own process with the invite in its environment, joins, adds a note and sees who is here.
// Runs the built packages for the spawned relay and example (`npm test` builds first).
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";
import { type Notes, openNotes } from "../index.mjs";

const script = fileURLToPath(new URL("../index.mjs", import.meta.url));
let relay: RelayProcess;
const open: Notes[] = [];
const children: ChildProcess[] = [];
const errors: Error[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
}, 30_000);
afterAll(async () => {
  await relay.dispose();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const notes of open.splice(0)) await notes.close();
});

let n = 0;
async function instance(user: string, invite?: string): Promise<Notes> {
  const notes = await openNotes({
    relay: relay.url,
    user: `${user}-${++n}`,
    name: user,
    password: `${user}-correct-horse`,
    ...(invite ? { invite } : {}),
    onError: (error) => errors.push(error),
  });
  open.push(notes);
  return notes;
}

test("two instances edit the same notes concurrently, converge, and see each other", async () => {
  const ana = await instance("ana");
  ana.add("groceries: ");
  const ben = await instance("ben", await ana.invite());
  await ben.until((b) => b.notes()[0] === "groceries: ");
  await ana.until((a) => a.present().includes("ben"));
  await ben.until((b) => b.present().includes("ana"));

  // Apart: ben is offline while both append to the same note and add one of their own.
  ben.goOffline();
  ana.append(0, "milk");
  ana.add("from ana");
  ben.append(0, "eggs");
  ben.add("from ben");
  expect(ben.notes()).toEqual(["groceries: eggs", "from ben"]);
  ben.goOnline();

  const merged = (x: Notes) => x.notes().length === 3 && x.notes()[0]!.length === 19;
  await Promise.all([ana.until(merged), ben.until(merged)]);
  expect(ana.notes()).toEqual(ben.notes());
  expect(["groceries: milkeggs", "groceries: eggsmilk"]).toContain(ana.notes()[0]);
  expect(ana.notes().slice(1).sort()).toEqual(["from ana", "from ben"]);
  await ana.until((a) => a.present().includes("ben"));
  expect(errors.filter((e) => /INTEGRITY|does not open|corrupt/i.test(e.message))).toEqual([]);
});

test("the command line, a separate process, joins with an invite from its environment", async () => {
  const ana = await instance("ana");
  ana.add("first");
  const invite = await ana.invite();
  const child = spawn(process.execPath, [script, "--relay", relay.url, "--user", `carl-${++n}`], {
    env: { ...process.env, WEFT_PASSWORD: "carl-correct-horse", WEFT_INVITE: invite },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.push(child);
  const out = output(child);

  await out.line((l) => l === 'notes: ["first"]');
  await out.line((l) => l.startsWith("here: ") && l.includes("ana"));
  child.stdin.write("from carl\n");
  await ana.until(
    (a) => a.notes().includes("from carl") && a.present().some((p) => /^carl/.test(p)),
  );
  ana.add("for carl");
  await out.line((l) => l === 'notes: ["first","from carl","for carl"]');
  expect(out.text()).not.toContain(invite); // the joiner never echoes the secret

  // Closing stdin ends the program; ana sees it leave.
  child.stdin.end();
  expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
  await ana.until((a) => !a.present().some((p) => /^carl/.test(p)));
});

/** The lines a child prints, and a wait for one that matches. */
function output(child: ChildProcess) {
  const lines: string[] = [];
  let stderr = "";
  const waiting = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const check of [...waiting]) check();
  });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return {
    text: () => lines.join("\n"),
    line: (match: (line: string) => boolean, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!lines.some(match)) return;
          waiting.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`no such line; stdout:\n${lines.join("\n")}\nstderr:\n${stderr}`));
        }, ms);
        waiting.add(check);
        check();
      }),
  };
}
