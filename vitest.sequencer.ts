/**
 * Vitest file order: longest first, from the durations in `test-durations.json`.
 *
 * Why: two workers take files from one queue, so the run ends when the last long file does. On a
 * clean clone (CI) vitest has no cached durations and starts the largest files first, which put
 * the 35-50 s process tests (agent-kill-points, agent-large-file) last, with the other worker
 * idle for their whole run. Longest first, the short files fill the gaps at the end.
 *
 * A file missing from the table (a new one) goes first: it may be long, and if it is short it
 * costs nothing there. The table only orders files, so an outdated one makes the run slower,
 * never wrong; `node scripts/test-durations.mjs REPORT.json` rewrites it from a JSON report.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestSpecification } from "vitest/node";
import { BaseSequencer } from "vitest/node";

const root = fileURLToPath(new URL(".", import.meta.url));
const table = JSON.parse(
  readFileSync(new URL("./test-durations.json", import.meta.url), "utf8"),
) as { seconds: Record<string, number> };

/** Sorts files by their recorded duration, longest first; unknown files before all. */
export default class LongestFirstSequencer extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (spec: TestSpecification): number =>
      table.seconds[relative(root, spec.moduleId)] ?? Number.POSITIVE_INFINITY;
    // Isolated files last: between two files of the shared project a worker keeps its modules,
    // and an isolated file in between would end that worker and start a fresh one.
    const isolated = (spec: TestSpecification): number => (spec.project.config.isolate ? 1 : 0);
    return Promise.resolve(
      [...files].sort((a, b) => isolated(a) - isolated(b) || seconds(b) - seconds(a)),
    );
  }
}
