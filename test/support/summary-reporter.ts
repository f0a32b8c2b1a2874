/**
 * Vitest 4 reporter that ends the run with the plain summary line CI parses:
 *
 *     test/a.test.ts: 12 passed, 0 failed, 1 skipped
 *     ...
 *   N passed, N failed, N skipped
 *
 * Counting rules:
 * - every test case of every module counts once by `result().state`;
 *   a test still "pending" when the run ends (interrupted run) counts as failed;
 * - a module that failed to load or run outside its tests (syntax error,
 *   import error, failing beforeAll/afterAll: `errors()` non-empty or
 *   `state() === "failed"`) with no failed test counts as one failure;
 * - unhandled errors of the run (which make vitest exit 1) count as one failure.
 *
 * Registered in vitest.config.ts after "default"; vitest calls every
 * reporter's onTestRunEnd in order and the default reporter's is synchronous,
 * so this output comes after its summary block.
 */
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from "vitest/node";

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const format = (c: Counts): string => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;

export function countModule(testModule: TestModule): Counts {
  const c: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const test of testModule.children.allTests()) {
    const state = test.result().state;
    if (state === "passed") c.passed++;
    else if (state === "skipped") c.skipped++;
    else c.failed++; // "failed", or "pending" at the end of an interrupted run
  }
  const moduleFailed = testModule.errors().length > 0 || testModule.state() === "failed";
  if (moduleFailed && c.failed === 0) c.failed = 1;
  return c;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    _reason: TestRunEndReason,
  ): void {
    const total: Counts = { passed: 0, failed: 0, skipped: 0 };
    const projects = new Set(testModules.map((m) => m.project.name));
    const lines: string[] = [];
    const sorted = [...testModules].sort((a, b) =>
      a.relativeModuleId === b.relativeModuleId
        ? a.project.name.localeCompare(b.project.name)
        : a.relativeModuleId.localeCompare(b.relativeModuleId),
    );
    for (const m of sorted) {
      const c = countModule(m);
      total.passed += c.passed;
      total.failed += c.failed;
      total.skipped += c.skipped;
      const tag = projects.size > 1 && m.project.name !== "" ? `[${m.project.name}] ` : "";
      lines.push(`  ${tag}${m.relativeModuleId}: ${format(c)}`);
    }
    if (unhandledErrors.length > 0) {
      total.failed++;
      lines.push(`  (unhandled errors: ${unhandledErrors.length}): counted as 1 failed`);
    }
    lines.push(format(total));
    process.stdout.write(`\n${lines.join("\n")}\n`);
  }
}
