// The daemon's control socket in one process: private, replaces a stale socket file, refuses bad
// requests with a clear error, and a client that misbehaves or vanishes costs the daemon nothing.
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { type Socket, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { NO_DAEMON, askDaemon } from "../src/control/client.js";
import { ControlServer, controlSocketPath } from "../src/control/server.js";
import { AgentError, Home } from "../src/home/index.js";

let dir: string;
let home: Home;
let server: ControlServer | undefined;
const clients: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-ctl-"));
  home = new Home(join(dir, "home"));
  await mkdir(home.dir, { mode: 0o700 });
});
afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.length = 0;
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Sends raw text on a new connection; resolves with the answer lines once it closes or `lines` arrived. */
function raw(text: string, lines = 1): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(home));
    clients.push(socket);
    let got = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      got += d;
      if (got.split("\n").length > lines) resolve(got.split("\n").slice(0, lines));
    });
    socket.on("close", () => resolve(got.split("\n").filter(Boolean)));
    socket.on("error", reject);
    socket.write(text);
  });
}

describe("the control socket", () => {
  test("is private to the user, answers, and is removed on close", async () => {
    server = await ControlServer.start(home, []);
    expect((await stat(server.path)).mode & 0o777).toBe(0o600);
    expect(await askDaemon(home, { op: "status", folders: [] })).toEqual({
      pid: process.pid,
      folders: [],
    });
    await server.close();
    server = undefined;
    await expect(stat(controlSocketPath(home))).rejects.toThrow();
    expect(await askDaemon(home, { op: "status", folders: [] })).toBe(NO_DAEMON);
  });

  test("a socket file left by a killed daemon is replaced; a live one is not", async () => {
    await writeFile(controlSocketPath(home), ""); // what a kill -9 leaves: nobody answers on it
    expect(await askDaemon(home, { op: "status", folders: [] })).toBe(NO_DAEMON);
    server = await ControlServer.start(home, []);
    await expect(ControlServer.start(home, [])).rejects.toThrow(/another process answers/);
    expect(await askDaemon(home, { op: "status", folders: [] })).toMatchObject({ folders: [] });
  });

  test("bad requests get a clear error on their id, and the daemon keeps answering", async () => {
    server = await ControlServer.start(home, []);
    const answers = (
      await raw(
        [
          "not json",
          JSON.stringify([1, 2]),
          JSON.stringify({ v: 99, id: 3, op: "status", folders: [] }),
          JSON.stringify({ v: 1, id: 4, op: "format-disk" }),
          JSON.stringify({ v: 1, id: 5, op: "history", folder: "f", path: "../../etc/passwd" }),
          JSON.stringify({ v: 1, id: 6, op: "restore", folder: "f", path: "a", version: -1 }),
          JSON.stringify({ v: 1, id: 7, op: "sync", folders: "all", timeout: 1 }),
          JSON.stringify({ v: 1, id: 8, op: "history", folder: "nope", path: "a" }),
          JSON.stringify({ v: 1, id: 9, op: "get", folder: "f", path: "a", out: "rel/out" }),
          JSON.stringify({ v: 1, id: 10, op: "ls", folder: "f", path: "", recursive: "yes" }),
          JSON.stringify({ v: 1, id: 11, op: "status", folders: [] }),
          "",
        ].join("\n"),
        11,
      )
    ).map((l) => JSON.parse(l) as { id: number; ok: boolean; error?: { message: string } });
    expect(answers.map((a) => [a.id, a.ok])).toEqual([
      [0, false],
      [0, false],
      [3, false],
      [4, false],
      [5, false],
      [6, false],
      [7, false],
      [8, false],
      [9, false],
      [10, false],
      [11, true],
    ]);
    expect(answers[2]!.error!.message).toMatch(/control protocol 1/);
    expect(answers[3]!.error!.message).toMatch(/no such request: format-disk/);
    expect(answers[4]!.error!.message).toMatch(/without \.\./);
    expect(answers[7]!.error!.message).toMatch(/does not sync folder nope/);
    expect(answers[8]!.error!.message).toMatch(/out is an absolute path/);
    expect(answers[9]!.error!.message).toMatch(/recursive is true or false/);
  });

  test("a line without end past the limit closes that connection only", async () => {
    server = await ControlServer.start(home, []);
    const [answer] = await raw("x".repeat(70 * 1024));
    expect(JSON.parse(answer!)).toMatchObject({ ok: false, error: { message: /at most/ } });
    expect(await askDaemon(home, { op: "status", folders: [] })).toMatchObject({ folders: [] });
  });

  test("a client that vanishes mid-request costs the daemon nothing", async () => {
    server = await ControlServer.start(home, []);
    for (let i = 0; i < 20; i++) {
      const socket = connect(controlSocketPath(home));
      clients.push(socket);
      socket.on("error", () => undefined);
      socket.write('{"v":1,"id":1,"op":"stat'); // half a request, then gone
      socket.destroy();
      const whole = connect(controlSocketPath(home));
      clients.push(whole);
      whole.on("error", () => undefined);
      whole.end(`${JSON.stringify({ v: 1, id: 2, op: "status", folders: [] })}\n`);
      whole.destroy(); // gone before the answer
    }
    expect(await askDaemon(home, { op: "status", folders: [] })).toMatchObject({ folders: [] });
  });

  test("the daemon's error reaches the client with its code", async () => {
    server = await ControlServer.start(home, []);
    const error = await askDaemon(home, { op: "history", folder: "nope", path: "a" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AgentError);
    expect(error).toMatchObject({ code: "BUSY" });
  });
});
