// The automerge-repo todo example against a real relay process (port 0): two instances edit the
// same list, live and with one offline (it catches up after the other has gone), and see each
// other; the command line joins with an invite from its environment and adds todos.
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";
import { type TodoRepo, main, openTodoRepo } from "../index.mjs";

let relay: RelayProcess;
const open: TodoRepo[] = [];

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
async function instance(user: string, join?: { invite: string; doc: string }): Promise<TodoRepo> {
  const list = await openTodoRepo({
    relay: relay.url,
    user: `${user}-${++n}`,
    name: user,
    password: `${user}-correct-horse`,
    ...join,
    onError: () => undefined,
  });
  open.push(list);
  return list;
}

const view = (list: TodoRepo) => list.todos().map((t) => `${t.done ? "x" : "-"} ${t.title}`);

test("two instances edit one list, see each other, and one catches up after being offline", async () => {
  const ana = await instance("ana");
  ana.add("buy milk");
  const ben = await instance("ben", { invite: await ana.invite(), doc: ana.url });
  await ben.until((b) => b.todos().length === 1);
  await ana.until((a) => a.present().includes("ben"));
  await ben.until((b) => b.present().includes("ana"));

  ben.goOffline();
  ben.toggle(0);
  ana.add("call mom");
  await ana.stored();
  await ana.close(); // ana is gone: ben's catch-up comes from the relay alone
  await ben.until((b) => b.present().length === 0);
  ben.goOnline();
  await ben.until((b) => b.todos().length === 2);
  expect(view(ben)).toEqual(["x buy milk", "- call mom"]);
});

test("the command line joins with an invite from its environment and adds todos", async () => {
  const ana = await instance("ana");
  ana.add("water plants");
  const invite = await ana.invite();
  const input = new PassThrough();
  const lines: string[] = [];
  let printed = (): void => undefined;
  const run = main(
    ["--relay", relay.url, "--user", `carl-${++n}`, "--doc", ana.url],
    {
      WEFT_PASSWORD: "carl-correct-horse",
      WEFT_INVITE: invite,
    },
    {
      input,
      log: (line) => {
        lines.push(line);
        printed();
      },
    },
  );
  // What carl's terminal shows once the list has arrived there.
  await new Promise<void>((resolve) => {
    printed = () => lines.includes('todos: ["[ ] water plants"]') && resolve();
    printed();
  });
  input.write("x 1\nfeed the cat\n");
  await ana.until((a) => a.todos().length === 2);
  expect(view(ana)).toEqual(["x water plants", "- feed the cat"]);
  input.end();
  await run;
  expect(lines).toContain('todos: ["[x] water plants","[ ] feed the cat"]');
  expect(lines.join("\n")).not.toContain(invite);
});
