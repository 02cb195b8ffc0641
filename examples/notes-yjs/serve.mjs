#!/usr/bin/env node
// The notes as a web page: builds web/ with Vite and serves it on 127.0.0.1, with the relay
// behind /v1 on the same origin (the relay sends no CORS headers; in production a reverse proxy
// in front of the site does this). Open the page in two tabs, or a tab and index.mjs.
//
//   npm start                                                          # the relay, :8787
//   node examples/notes-yjs/serve.mjs --relay http://127.0.0.1:8787 --port 5173
//   WEFT_PASSWORD=… node examples/notes-yjs/index.mjs --relay http://127.0.0.1:5173 --user ana
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startPageServer } from "@weft/test-support";

/** Builds the page and serves it with `relay` behind /v1; resolves with `{ url, close }`. */
export function serveNotes({ relay, port, alias }) {
  const root = fileURLToPath(new URL("./web/", import.meta.url));
  return startPageServer({ root, relay, port, alias });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { relay: { type: "string" }, port: { type: "string" } },
  });
  if (!values.relay) {
    console.error("usage: serve.mjs --relay URL [--port P]");
    process.exit(1);
  }
  const server = await serveNotes({
    relay: values.relay,
    ...(values.port ? { port: Number(values.port) } : {}),
  });
  console.log(`the notes page: ${server.url} (Ctrl-C stops)`);
  process.on("SIGINT", () => void server.close().then(() => process.exit(0)));
}
