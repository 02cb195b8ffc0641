#!/usr/bin/env node
// The `weft-relay` command: a committed launcher (so npm links it at install time, before the
// build) for the compiled relay CLI. `npm ci` builds it through the root `prepare` script.
import("../dist/cli.js").catch((error) => {
  if (error && error.code === "ERR_MODULE_NOT_FOUND")
    process.stderr.write("weft-relay: not built yet; run `npm run build` at the repository root\n");
  else process.stderr.write(`weft-relay: ${error && error.message}\n`);
  process.exit(1);
});
