/**
 * Vitest global setup: process tests run the built `dist/` (the `weft` and `weft relay`
 * processes), so a run after editing `src` would test the old build. Before any test, this
 * rebuilds (`tsc -b`) when a package's sources are newer than its last build, and fails the run
 * when `dist/` is still behind.
 *
 * Why check first and not always run `tsc -b`: the check takes milliseconds; `tsc -b` with
 * nothing to do takes 1-1.5 s on the 2-core CI machine, on every `npx vitest run` of one test
 * file. When something did change, building here costs what `npm run build` would.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));
// In build order (see the root package.json's "build").
const PACKAGES = ["crypto", "core", "sqlite-store", "relay", "node-agent"];

/** The newest mtime (ms) of what tsc compiles for a package: src/ (files and directories, so a
 * deleted file counts) and its tsconfig.json. Tests are not part of the build. */
function newestSource(pkg: string): { path: string; mtimeMs: number } {
  let newest = { path: join(pkg, "tsconfig.json"), mtimeMs: 0 };
  const consider = (path: string): void => {
    const { mtimeMs } = statSync(join(root, "packages", path));
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  };
  consider(join(pkg, "tsconfig.json"));
  consider(join(pkg, "src"));
  for (const rel of readdirSync(join(root, "packages", pkg, "src"), { recursive: true })) {
    if (typeof rel !== "string" || rel.endsWith(".test.ts")) continue;
    consider(join(pkg, "src", rel));
  }
  return newest;
}

/** When the package was last built (tsc -b touches its build info even when output is unchanged). */
function builtAt(pkg: string): number {
  try {
    return statSync(join(root, "packages", pkg, "dist", ".tsbuildinfo")).mtimeMs;
  } catch {
    return -1; // never built
  }
}

/** Packages whose sources changed since their last build, with the newest changed file. */
function stale(): string[] {
  return PACKAGES.flatMap((pkg) => {
    const source = newestSource(pkg);
    return source.mtimeMs > builtAt(pkg) ? [`packages/${source.path}`] : [];
  });
}

/** Runs before the first test file. */
export default function setup(): void {
  const before = stale();
  if (before.length === 0) return;
  const started = Date.now();
  let errors = "";
  try {
    execFileSync(
      process.execPath,
      [
        join(root, "node_modules", "typescript", "bin", "tsc"),
        "-b",
        ...PACKAGES.map((p) => join(root, "packages", p)),
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" },
    );
  } catch (error) {
    // Type errors: tsc -b still emits JavaScript, so process tests can run on current code;
    // the errors are for `npm run lint`, but nobody should miss them here either.
    const e = error as { stdout?: string; stderr?: string };
    errors = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  const after = stale();
  if (after.length > 0)
    throw new Error(
      `dist/ is older than src/ (${after.join(", ")}) and tsc -b did not bring it up to date; ` +
        `process tests would run old code. Run \`npm run build\` and fix what it reports.\n${errors}`,
    );
  process.stderr.write(
    `vitest: rebuilt dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s, since src/ had changed (${before.join(", ")})\n` +
      (errors ? `tsc -b reported errors (the JavaScript was emitted anyway):\n${errors}\n` : ""),
  );
}
