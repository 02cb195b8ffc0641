/** Import-graph rules: no cycles, and packages only depend in the direction
 *  crypto ← core ← {relay, node-agent} ← examples, bench. */
const layer = (from, to) => ({
  name: `no-${from}-to-${to}`,
  comment: `${from} must not depend on ${to} (package direction crypto ← core ← relay, node-agent).`,
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
    layer("core", "relay"),
    layer("core", "node-agent"),
    layer("relay", "node-agent"),
    layer("node-agent", "relay"),
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
