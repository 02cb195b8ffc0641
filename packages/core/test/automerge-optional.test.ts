// @automerge/automerge is an optional peer dependency: an app without it imports @weft/core,
// syncs Yjs documents, and is told what to install when it opens an Automerge document. A child
// process runs the built core with a module hook that makes the package unresolvable (Node's
// own "Cannot find package" error), as in an app that never installed it. (The install itself,
// with no @automerge in node_modules, is checked by scripts/pack-install-check.sh.)
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, expect, test } from "vitest";

const dist = (path: string): string => new URL(`../dist/${path}`, import.meta.url).href;

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

test("without @automerge/automerge, core syncs a Yjs document and explains an Automerge one", async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-no-automerge-"));
  // Resolved from a folder with no node_modules: Node throws its real ERR_MODULE_NOT_FOUND.
  const nowhere = pathToFileURL(join(dir, "nowhere.mjs")).href;
  await writeFile(
    join(dir, "hook.mjs"),
    "export async function resolve(specifier, context, next) {\n" +
      '  if (specifier.startsWith("@automerge/"))\n' +
      `    return next(specifier, { ...context, parentURL: ${JSON.stringify(nowhere)} });\n` +
      "  return next(specifier, context);\n}\n",
  );
  await writeFile(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hook.mjs")).href)});\n`,
  );
  await writeFile(
    join(dir, "app.mjs"),
    `import { createTestNetwork } from ${JSON.stringify(dist("testing/index.js"))};\n` +
      "const net = await createTestNetwork({ devices: 2 });\n" +
      'const [a, b] = await Promise.all(net.replicas.map((r) => r.doc("notes")));\n' +
      'a.getText("t").insert(0, "yjs only");\n' +
      "await net.settle();\n" +
      "let automerge;\n" +
      'try { await net.replicas[0].automerge("todo"); automerge = "opened"; }\n' +
      "catch (error) { automerge = { code: error.code, message: error.message }; }\n" +
      "await net.close();\n" +
      'console.log(JSON.stringify({ yjs: b.getText("t").toString(), automerge }));\n',
  );
  const run = spawnSync(
    process.execPath,
    ["--import", join(dir, "register.mjs"), join(dir, "app.mjs")],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  const out = JSON.parse(run.stdout) as {
    yjs: string;
    automerge: { code: string; message: string } | string;
  };
  expect(out.yjs).toBe("yjs only");
  expect(out.automerge).toMatchObject({ code: "MISSING_DEPENDENCY" });
  expect((out.automerge as { message: string }).message).toMatch(
    /^install @automerge\/automerge to open Automerge documents/,
  );
});
