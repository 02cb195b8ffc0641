// Each package README's quickstart is a file here, included in the README verbatim after a
// `<!-- quickstart: examples/quickstarts/FILE -->` line. This test checks that every README
// holds its file's current text, and runs every file as a user would (node, or bash with the
// `weft` command on PATH) against a relay process, checking what it prints.
// Runs the built packages (`npm test` builds first).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";

const root = new URL("../../../", import.meta.url);
const here = new URL("../", import.meta.url);

/** Package README → the quickstart it includes, and a line its run must print. */
const QUICKSTARTS = [
  {
    readme: "packages/crypto/README.md",
    file: "crypto.mjs",
    prints: "tampered chunk refused: TAMPERED",
  },
  { readme: "packages/core/README.md", file: "core.mjs", prints: "ben sees: hello from ana" },
  {
    readme: "packages/sqlite-store/README.md",
    file: "sqlite-store.mjs",
    prints: 'after reopening: "# Today\\n" ["water the plants"]',
  },
  { readme: "packages/relay/README.md", file: "relay.mjs", prints: "health: ok" },
  { readme: "packages/node-agent/README.md", file: "agent.sh", prints: "hello from the laptop" },
];

let relay: RelayProcess;
beforeAll(async () => {
  relay = await startRelayProcess();
}, 30_000);
afterAll(async () => {
  await relay?.dispose();
});

/** The fenced block that follows the README's marker line for `file`, or undefined. */
function included(readme: string, file: string): string | undefined {
  const text = readFileSync(new URL(readme, root), "utf8");
  const marker = text.indexOf(`<!-- quickstart: examples/quickstarts/${file} -->`);
  if (marker < 0) return undefined;
  const block = /\n```[a-z]*\n([\s\S]*?)\n```\n/.exec(text.slice(marker));
  return block?.[1];
}

test.each(QUICKSTARTS)("$readme holds examples/quickstarts/$file verbatim", ({ readme, file }) => {
  const source = readFileSync(new URL(file, here), "utf8").trimEnd();
  expect(included(readme, file), `paste examples/quickstarts/${file} into ${readme}`).toBe(source);
});

// One at a time: run together they only compete for the CPU (measured: no faster).
test.each(QUICKSTARTS)(
  "$file runs against a relay and prints what it says",
  async ({ file, prints }) => {
    const path = fileURLToPath(new URL(file, here));
    const [command, args] = file.endsWith(".sh") ? ["bash", [path]] : [process.execPath, [path]];
    const { stdout } = await promisify(execFile)(command, args, {
      env: {
        ...process.env,
        WEFT_RELAY: relay.url,
        // `weft`, as `npm install -g @weft/node-agent` puts it on PATH.
        PATH: `${fileURLToPath(new URL("node_modules/.bin", root))}${delimiter}${process.env.PATH}`,
      },
      timeout: 60_000,
    });
    expect(stdout.split("\n")).toContain(prints);
  },
);
