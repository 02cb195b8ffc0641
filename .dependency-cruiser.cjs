/** Import-graph rules: no cycles, packages only depend in the direction
 *  crypto ← core ← {sqlite-store ← node-agent, relay, automerge-repo} ← examples, bench, and no package's src uses the
 *  test-support package (tests, examples, benchmarks and property tests only). */
const layer = (from, to) => ({
  name: `no-${from}-to-${to}`,
  comment: `${from} must not depend on ${to} (package direction crypto ← core ← sqlite-store ← node-agent; core ← relay).`,
  severity: "error",
  from: { path: `^packages/${from}/` },
  to: { path: `(^packages/${to}/|node_modules/@weft/${to}/)` },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "Import cycles make initialisation order fragile and hide layering mistakes.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    layer("crypto", "core"),
    layer("crypto", "relay"),
    layer("crypto", "node-agent"),
    layer("core", "browser"),
    layer("browser", "relay"),
    layer("browser", "node-agent"),
    layer("crypto", "sqlite-store"),
    layer("core", "sqlite-store"),
    layer("sqlite-store", "relay"),
    layer("sqlite-store", "node-agent"),
    layer("core", "relay"),
    layer("core", "node-agent"),
    layer("relay", "node-agent"),
    layer("core", "automerge-repo"),
    layer("automerge-repo", "relay"),
    layer("automerge-repo", "node-agent"),
    {
      // The agent never uses the relay, with two exceptions: `weft relay` (one file, so that the
      // one command users install can also run a relay), and the agent's tests (deploy.test.ts
      // checks the shipped configuration files with the relay's own parser). Relay processes in
      // tests come from @weft/test-support.
      ...layer("node-agent", "relay"),
      from: {
        path: "^packages/node-agent/",
        pathNot: "^packages/node-agent/(src/cli/relay-command\\.ts|test/)",
      },
    },
    {
      name: "src-not-importing-test-support",
      comment:
        "@weft/test-support (processes, proxies, ports for tests) is private: no package's src may use it.",
      severity: "error",
      from: { path: "^packages/[^/]+/src/", pathNot: "^packages/test-support/" },
      to: { path: "(^packages/test-support/|node_modules/@weft/test-support/)" },
    },
    {
      name: "src-not-importing-tests",
      severity: "error",
      from: { path: "^packages/[^/]+/src/" },
      to: { path: "(^packages/[^/]+/test/|^property-tests/)" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(/dist/|node_modules)" },
    tsConfig: { fileName: "tsconfig.test.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "types", "default"],
    },
  },
};
