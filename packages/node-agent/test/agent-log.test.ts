// The daemon's log file: rotated by size, keeping a fixed number of files; file names taken out
// of problems unless the user asked for them.
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { RotatingFile, openAgentLog, redactNames } from "../src/log/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-log-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("RotatingFile", () => {
  test("rotates before a write would pass maxBytes, keeping `files` files, newest first", async () => {
    const path = join(dir, "logs", "weft.log");
    const file = new RotatingFile(path, { maxBytes: 100, files: 3 });
    for (let i = 0; i < 20; i++) file.write(`${String(i).padStart(2, "0")} ${"x".repeat(36)}\n`); // 40 bytes
    file.close();
    expect((await readdir(join(dir, "logs"))).sort()).toEqual([
      "weft.log",
      "weft.log.1",
      "weft.log.2",
    ]);
    for (const name of ["weft.log", "weft.log.1", "weft.log.2"])
      expect((await stat(join(dir, "logs", name))).size).toBeLessThanOrEqual(100);
    // Two lines a file: 18-19 current, 16-17 before, 14-15 the oldest kept.
    expect((await readFile(path, "utf8")).startsWith("18 ")).toBe(true);
    expect((await readFile(`${path}.2`, "utf8")).startsWith("14 ")).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  test("appends to the file a previous run left, and counts its size", async () => {
    const path = join(dir, "weft.log");
    const first = new RotatingFile(path, { maxBytes: 100, files: 2 });
    first.write(`${"a".repeat(79)}\n`);
    first.close();
    const second = new RotatingFile(path, { maxBytes: 100, files: 2 });
    second.write(`${"b".repeat(39)}\n`);
    second.close();
    expect(await readFile(`${path}.1`, "utf8")).toBe(`${"a".repeat(79)}\n`);
    expect(await readFile(path, "utf8")).toBe(`${"b".repeat(39)}\n`);
  });
});

describe("the agent's logger", () => {
  test("writes JSON lines with a time and the message, and censors secret-named fields", async () => {
    const log = openAgentLog({ dir, toStdout: false });
    log.logger.info({ token: "tok-123", nested: { password: "pw-456" }, files: 2 }, "upload batch");
    log.close();
    const text = await readFile(join(dir, "weft.log"), "utf8");
    const line = JSON.parse(text.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: "upload batch", files: 2, service: "weft" });
    expect(typeof line["time"]).toBe("string");
    expect(text).not.toMatch(/tok-123|pw-456/);
  });
});

describe("redactNames", () => {
  const folder = "/home/ana/shared";
  test("cuts paths inside the folder, keeping the folder", () => {
    expect(redactNames(`EACCES: permission denied, open '${folder}/tax/2024.pdf'`, folder)).toBe(
      `EACCES: permission denied, open '${folder}/…'`,
    );
  });
  test("takes the file's own name and stem out, as in a conflict copy's name", () => {
    expect(
      redactNames(
        "changed here and on another device; theirs is in tax/2024 (conflict ab12).pdf",
        folder,
        "tax/2024.pdf",
      ),
    ).toBe("changed here and on another device; theirs is in tax/… (conflict ab12).pdf");
  });
  test("leaves the folder's path alone when the name is part of it", () => {
    expect(redactNames(`cannot read ${folder}/shared.txt`, folder, "shared.txt")).toBe(
      `cannot read ${folder}/…`,
    );
  });
});
