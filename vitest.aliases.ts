/**
 * The workspace packages' import names mapped to their sources: tests import sources, never a
 * sibling's dist/, so no build is needed before `npm test`. Its own file so that a test's child
 * process (fixtures/run-crash-writer.mjs) can load it without vitest's whole configuration.
 */
import { fileURLToPath } from "node:url";

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

/** Import name to source file, for vite's `resolve.alias`. */
export const aliases: Record<string, string> = {
  "@weft/crypto": src("crypto"),
  // Subpaths first: an alias also matches "<name>/…", so "@weft/core" would swallow them.
  "@weft/core/storage": fileURLToPath(
    new URL("./packages/core/src/storage/index.ts", import.meta.url),
  ),
  "@weft/core/cli": fileURLToPath(new URL("./packages/core/src/cli/index.ts", import.meta.url)),
  "@weft/core/testing": fileURLToPath(
    new URL("./packages/core/src/testing/index.ts", import.meta.url),
  ),
  "@weft/core/server": fileURLToPath(
    new URL("./packages/core/src/server/index.ts", import.meta.url),
  ),
  "@weft/core/conformance": fileURLToPath(
    new URL("./packages/core/src/conformance/index.ts", import.meta.url),
  ),
  "@weft/core/fs": fileURLToPath(new URL("./packages/core/src/fs/index.ts", import.meta.url)),
  "@weft/core/errors": fileURLToPath(new URL("./packages/core/src/errors.ts", import.meta.url)),
  "@weft/core": src("core"),
  "@weft/browser": src("browser"),
  "@weft/relay": src("relay"),
  "@weft/sqlite-store": src("sqlite-store"),
  "@weft/automerge-repo": src("automerge-repo"),
  "@weft/test-support": src("test-support"),
};
