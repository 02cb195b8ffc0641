/**
 * `npm run test:browser`: Weft in real Chromium (Debian's /usr/bin/chromium; playwright never
 * downloads a browser). Two projects: "page" runs test files inside a Chromium page (vitest
 * browser mode: the IndexedDB stores against the conformance suites); "node" runs test files in
 * Node that start relay processes and drive Chromium pages through playwright-core (a browser
 * replica syncing with a Node one, the notes example page).
 */
import { fileURLToPath } from "node:url";
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";
import { aliases } from "./vitest.aliases.js";
import PassedFailedReporter from "./vitest.passed-failed.js";

const AUTOMERGE_BASE64 = fileURLToPath(
  new URL(
    "./node_modules/@automerge/automerge/dist/mjs/entrypoints/fullfat_base64.js",
    import.meta.url,
  ),
);
const CHROMIUM = process.env["WEFT_CHROMIUM"] ?? "/usr/bin/chromium";

export default defineConfig({
  resolve: { alias: aliases },
  test: {
    projects: [
      {
        extends: true,
        // @automerge/automerge's "browser" entry imports its .wasm as a module, which needs a
        // bundler plugin; its base64 entry loads anywhere.
        resolve: { alias: [{ find: /^@automerge\/automerge$/, replacement: AUTOMERGE_BASE64 }] },
        test: {
          name: "page",
          include: ["packages/*/test/page/**/*.browser.test.ts"],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: CHROMIUM } }),
            instances: [{ browser: "chromium" }],
            screenshotFailures: false,
          },
        },
      },
      {
        extends: true,
        test: {
          name: "node",
          include: ["packages/*/test/*.browser.test.ts", "examples/*/test/**/*.browser.test.ts"],
          environment: "node",
          pool: "forks",
        },
      },
    ],
    // Relay processes run dist/: rebuilt first when src/ is newer (as in vitest.config.ts).
    globalSetup: ["./vitest.global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", new PassedFailedReporter()],
  },
});
