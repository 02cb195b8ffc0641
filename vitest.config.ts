import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests import workspace sources, never a sibling's dist/: no build needed before `npm test`.
export default defineConfig({
  resolve: {
    alias: {
      "@weft/crypto": src("crypto"),
      "@weft/core": src("core"),
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "property-tests/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
