// @weft/relay in ten minutes, embedded: start a relay inside your own process (the same server
// as `weft relay`), ask it how it is, stop it. It stores ciphertext and metadata only.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, startRelay } from "@weft/relay";

const data = await mkdtemp(join(tmpdir(), "weft-relay-"));
// The same flags and WEFT_RELAY_* environment variables as the command line.
const config = parseConfig(["--port", "0", "--data", data, "--log-level", "warn"], {});
if (config === "help") throw new Error("unreachable: no --help given");
const relay = await startRelay(config);
console.log(`relay listening on ${relay.url}`);

const health = await (await fetch(`${relay.url}/health`)).json();
console.log(`health: ${health.status}`);

await relay.close(); // closes connections and the database
await rm(data, { recursive: true });
