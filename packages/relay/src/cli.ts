#!/usr/bin/env node
/** `weft-relay` and `npm start`: the relay as a command (see run.ts). */
import { runRelayCommand } from "./run.js";

runRelayCommand(process.argv.slice(2), process.env).catch((error: unknown) => {
  process.stderr.write(`weft relay: ${(error as Error).message}\n`);
  process.exit(1);
});
