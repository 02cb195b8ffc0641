#!/usr/bin/env node
/** `weft relay` (and `npm start`): parse flags and environment, start the relay, stop on SIGTERM/SIGINT. */
import { HELP, parseConfig } from "./config.js";
import { startRelay } from "./relay.js";

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`weft relay: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (config === "help") {
    process.stdout.write(HELP);
    return;
  }
  const relay = await startRelay(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // A relay that cannot close in time (a stuck disk) still exits, after saying so.
    const timer = setTimeout(() => {
      process.stderr.write(`weft relay: did not stop within 5 s of ${signal}; exiting\n`);
      process.exit(1);
    }, 5000);
    timer.unref();
    relay.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`weft relay: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`weft relay: ${(error as Error).message}\n`);
  process.exit(1);
});
