/** A vitest reporter that ends the run with the plain line CI reads: `N passed, N failed`. */
import type { Reporter, TestModule } from "vitest/node";

/** Counts every test case of the run and prints `N skipped`, then `N passed, N failed`. */
export default class PassedFailedReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[], unhandledErrors: readonly unknown[]): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      // A file that failed to load has no test cases: count it as one failure.
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
    }
    failed += unhandledErrors.length;
    console.log(`${skipped} skipped`);
    console.log(`${passed} passed, ${failed} failed`);
  }
}
