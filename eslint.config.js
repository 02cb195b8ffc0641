// Type-aware lint for the whole workspace. Package direction is also enforced here
// (crypto ← core ← sqlite-store ← node-agent; core ← relay); dependency-cruiser checks cycles and direction again
// on the resolved import graph (`npm run lint:deps`).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// No src imports @weft/test-support (private, for tests only): every src forbids it.
const forbid = (...names) => ({
  "no-restricted-imports": [
    "error",
    {
      patterns: [
        ...names.map((n) => ({
          group: [n, `${n}/*`],
          message:
            "This import goes against the package direction crypto ← core ← sqlite-store ← node-agent; core ← relay.",
        })),
        {
          group: ["@weft/test-support", "@weft/test-support/*"],
          message:
            "@weft/test-support is for tests, examples and benchmarks, never a package's src.",
        },
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ["**/dist/**", "node_modules/**", "bench/results/**", "docs/api/**", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ["./tsconfig.test.json", "./packages/browser/tsconfig.test.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { project: false, projectService: false, program: null },
      globals: {
        process: "readonly",
        console: "readonly",
        URL: "readonly",
        Buffer: "readonly",
        performance: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        globalThis: "readonly",
      },
    },
  },
  {
    // Examples read as an app would write them: Node's web globals without imports.
    files: ["examples/**/*.mjs"],
    languageOptions: {
      globals: { TextEncoder: "readonly", TextDecoder: "readonly", fetch: "readonly" },
    },
  },
  {
    // The dashboard's page: browser ES modules, served as they are (no bundler).
    files: ["packages/node-agent/ui/**/*.js"],
    languageOptions: {
      globals: {
        document: "readonly",
        EventSource: "readonly",
        navigator: "readonly",
        fetch: "readonly",
        URLSearchParams: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
      },
    },
  },
  {
    // The examples' web pages: browser ES modules, bundled by Vite (serve.mjs).
    files: ["examples/*/web/**/*.mjs"],
    languageOptions: {
      globals: {
        document: "readonly",
        location: "readonly",
        FormData: "readonly",
        addEventListener: "readonly",
      },
    },
  },
  {
    files: ["packages/crypto/src/**"],
    rules: forbid("@weft/core", "@weft/sqlite-store", "@weft/relay", "@weft/node-agent"),
  },
  {
    files: ["packages/core/src/**"],
    rules: forbid("@weft/sqlite-store", "@weft/relay", "@weft/node-agent", "@weft/automerge-repo"),
  },
  { files: ["packages/sqlite-store/src/**"], rules: forbid("@weft/relay", "@weft/node-agent") },
  {
    files: ["packages/browser/src/**"],
    rules: forbid("@weft/sqlite-store", "@weft/relay", "@weft/node-agent"),
  },
  { files: ["packages/relay/src/**"], rules: forbid("@weft/node-agent") },
  {
    files: ["packages/automerge-repo/src/**"],
    rules: forbid("@weft/relay", "@weft/node-agent"),
  },
  {
    files: ["packages/node-agent/src/**"],
    ignores: ["packages/node-agent/src/cli/relay-command.ts"], // `weft relay`: see .dependency-cruiser.cjs
    rules: forbid("@weft/relay"),
  },
);
