import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";
import LongestFirstSequencer from "./vitest.sequencer.js";

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

const TESTS = [
  "packages/*/test/**/*.test.ts",
  "property-tests/**/*.test.ts",
  "examples/*/test/**/*.test.ts",
];
const ISOLATED = [
  "packages/crypto/test/no-node-crypto.test.ts",
  "packages/crypto/test/not-ready.test.ts",
  "packages/relay/test/password-pool.test.ts",
];

// Tests import workspace sources, never a sibling's dist/: no build needed before `npm test`.
export default defineConfig({
  resolve: {
    alias: {
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
      "@weft/relay": src("relay"),
      "@weft/test-support": src("test-support"),
    },
  },
  test: {
    projects: [
      // One worker process runs file after file and keeps the modules it has evaluated (the
      // workspace sources, libsodium, SQLite): with a fresh process per file, each of the 120-odd
      // files paid 1-3 s of imports again. Files clean up after themselves (afterEach/afterAll,
      // unstubbed globals, real timers), so nothing else carries over.
      {
        extends: true,
        test: {
          name: "shared",
          include: TESTS,
          exclude: [...configDefaults.exclude, ...ISOLATED],
          isolate: false,
        },
      },
      // Files that need modules evaluated afresh: vi.mock of a Node module, or state from before
      // libsodium's ready().
      { extends: true, test: { name: "isolated", include: ISOLATED, isolate: true } },
    ],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two workers on CI's two cores: vitest's default (CPUs - 1) runs one file at a time, and
    // most process tests spend their time waiting on child processes, not computing.
    maxWorkers: 2,
    // Longest files first (durations in test-durations.json), so no long file runs last alone.
    sequence: { sequencer: LongestFirstSequencer },
    // Process tests run dist/: rebuild it when src/ is newer, so they never test an old build.
    globalSetup: ["./vitest.global-setup.ts"],
  },
});
