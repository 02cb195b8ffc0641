#!/usr/bin/env node
// Shared notes: a Yjs document synced end to end through a real relay, which only ever sees
// ciphertext. The first instance creates the notes and prints an invite; others join with it.
// Every instance edits at once, offline or not, and all converge; each shows who else is here
// (Yjs awareness, sent as sealed ephemeral messages and never stored).
//
//   npm start    # the relay, on http://127.0.0.1:8787
//   WEFT_PASSWORD=… node examples/notes-yjs/index.mjs --relay http://127.0.0.1:8787 --user ana
//   WEFT_PASSWORD=… WEFT_INVITE='weft1:…' node examples/notes-yjs/index.mjs --relay … --user ben
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { openNotes as openNotesAnywhere } from "./notes.mjs";

/**
 * Opens the shared notes (see notes.mjs, which a web page uses too) with the `ws` package's
 * WebSocket: Node 20 has no global one.
 */
export function openNotes(options) {
  return openNotesAnywhere({ WebSocket, ...options });
}

/**
 * The command line: `--relay URL --user NAME`; the password from WEFT_PASSWORD and an invite
 * from WEFT_INVITE (or, with `--join`, the first line of stdin), never from argv where other
 * users of the machine can read them. Each line typed adds a note; `+N text` appends to note N.
 */
export async function main(argv = process.argv.slice(2), env = process.env, io = {}) {
  const input = io.input ?? process.stdin;
  const say = io.log ?? console.log;
  const { values } = parseArgs({
    args: argv,
    options: { relay: { type: "string" }, user: { type: "string" }, join: { type: "boolean" } },
  });
  const password = env.WEFT_PASSWORD;
  if (!values.relay || !values.user || !password)
    throw new Error("usage: WEFT_PASSWORD=… [WEFT_INVITE=…] index.mjs --relay URL --user NAME");
  // One reader for all of stdin: with --join its first line is the invite, the rest are notes.
  const lines = createInterface({ input })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value;
  const invite = env.WEFT_INVITE || (values.join ? (await next())?.trim() : undefined);
  const notes = await openNotes({ relay: values.relay, user: values.user, password, invite });
  say(`${values.user} is device ${notes.deviceId}`);
  if (!invite) say(`invite (works once; send it privately): ${await notes.invite()}`);
  let shown = "";
  let here;
  const show = () => {
    const now = JSON.stringify(notes.notes());
    if (now !== shown) say(`notes: ${(shown = now)}`);
    const who = notes.present().join(", ");
    if (who !== here) say(`here: ${(here = who) || "nobody else"}`);
  };
  notes.onChange(show);
  show();
  for (let line = await next(); line !== undefined; line = await next()) {
    const append = /^\+(\d+) (.*)$/.exec(line);
    if (append) notes.append(Number(append[1]), append[2]);
    else if (line.trim() !== "") notes.add(line.trim());
  }
  await notes.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`notes: ${error.message}`);
      process.exit(1);
    },
  );
}
