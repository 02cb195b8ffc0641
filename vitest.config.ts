import { configDefaults, defineConfig } from "vitest/config";
import { aliases } from "./vitest.aliases.js";
import LongestFirstSequencer from "./vitest.sequencer.js";

const TESTS = [
  "packages/*/test/**/*.test.ts",
  "property-tests/**/*.test.ts",
  "examples/*/test/**/*.test.ts",
];
const ISOLATED = [
  "packages/crypto/test/no-node-crypto.test.ts",
  "packages/crypto/test/node-crypto-stand-in.test.ts",
  "packages/crypto/test/not-ready.test.ts",
  "packages/relay/test/password-pool.test.ts",
];

// Tests import workspace sources (vitest.aliases.ts), never a sibling's dist/.
export default defineConfig({
  resolve: { alias: aliases },
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
          // *.browser.test.ts need Chromium: `npm run test:browser` (vitest.browser.config.ts).
          exclude: [...configDefaults.exclude, ...ISOLATED, "**/*.browser.test.ts"],
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
