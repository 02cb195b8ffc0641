// Smoke test: the todo example against a real relay process (port 0). Two instances, each with
// its own replica and stores, edit the same todos while one is offline (ticks, new todos, typing
// into one title from both sides) and converge; each sees the other; and the command line joins
// with an invite from its environment and drives the list from its input.
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";
import { type TodoList, main, openTodos } from "../index.mjs";

let relay: RelayProcess;
const open: TodoList[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
}, 30_000);
afterAll(async () => {
  await relay.dispose();
});
afterEach(async () => {
  for (const list of open.splice(0)) await list.close();
});

let n = 0;
async function instance(user: string, invite?: string): Promise<TodoList> {
  const list = await openTodos({
    relay: relay.url,
    user: `${user}-${++n}`,
    name: user,
    password: `${user}-correct-horse`,
    ...(invite ? { invite } : {}),
    onError: () => undefined,
  });
  open.push(list);
  return list;
}

const view = (list: TodoList) => list.todos().map((t) => `${t.done ? "x" : "-"} ${t.title}`);

test("two instances edit the same todos concurrently, converge, and see each other", async () => {
  const ana = await instance("ana");
  const milk = await ana.add("buy milk");
  const mom = await ana.add("call mom");
  const ben = await instance("ben", await ana.invite());
  await ben.until((b) => b.todos().length === 2);
  await ana.until((a) => a.present().includes("ben"));
  await ben.until((b) => b.present().includes("ana"));

  // Apart: both type into the same title, tick different todos and add their own.
  ben.goOffline();
  await ana.type(milk, " today");
  await ana.setDone(milk, true);
  await ana.add("ana's todo");
  await ben.type(milk, "please ", 0);
  await ben.setDone(mom, true);
  await ben.add("ben's todo");
  ben.goOnline();

  const merged = (x: TodoList) => x.todos().length === 4 && x.todos()[0]!.title.length === 21;
  await Promise.all([ana.until(merged), ben.until(merged)]);
  expect(ana.todos()).toEqual(ben.todos());
  expect(view(ana).slice(0, 2)).toEqual(["x please buy milk today", "x call mom"]);
  expect(view(ana).slice(2).sort()).toEqual(["- ana's todo", "- ben's todo"]);
  await ana.until((a) => a.present().includes("ben"));
});

test("the command line joins with an invite from its environment and edits the list", async () => {
  const ana = await instance("ana");
  await ana.add("water plants");
  const invite = await ana.invite();
  const input = new PassThrough();
  const lines: string[] = [];
  let printed = (): void => undefined;
  const env = { WEFT_PASSWORD: "carl-correct-horse", WEFT_INVITE: invite };
  const run = main(["--relay", relay.url, "--user", `carl-${++n}`], env, {
    input,
    log: (line) => {
      lines.push(line);
      printed();
    },
  });
  // What carl's terminal shows once the list has arrived there.
  await new Promise<void>((resolve) => {
    printed = () => lines.includes('todos: ["[ ] water plants"]') && resolve();
    printed();
  });
  await ana.until((a) => a.present().some((p) => p.startsWith("carl")));
  input.write("x 1\nfeed the cat\n+2 , twice\n");
  await ana.until((a) => a.todos().length === 2 && a.todos()[1]!.title === "feed the cat, twice");
  expect(view(ana)).toEqual(["x water plants", "- feed the cat, twice"]);
  input.end();
  await run;
  expect(lines).toContain('todos: ["[x] water plants","[ ] feed the cat, twice"]');
  expect(lines.join("\n")).not.toContain(invite);
  await ana.until((a) => !a.present().some((p) => p.startsWith("carl")));
});
