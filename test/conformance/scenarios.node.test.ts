/**
 * Conformance of the scenarios under test/scenarios: the kernel's own merge
 * tests (selftests-merge, vma-userland), the spec's measured cases (measured)
 * and pinned cases. Every NAME.vms has NAME.expected, the report the kernel
 * test expects (where the live kernel disagreed with the spec, the kernel's
 * report, with a `# note:` in the .vms).
 *
 * With a live kernel: its report must equal .expected, and both engines'
 * reports must equal the kernel's. (scenario-files.test.ts checks the
 * engines against .expected everywhere, browsers included.)
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { buildHarness, liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { reportsMatch } from "../../bindings/scenario/compare.js";
import { simOnlyReason } from "../../bindings/scenario/parse.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "scenarios");

/** Every .vms under test/scenarios, as a "/"-separated path relative to it, sorted. */
const scenarios: string[] = readdirSync(ROOT, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".vms"))
  .map((f) => f.split(sep).join("/"))
  .sort();

const text = (rel: string): string => readFileSync(join(ROOT, rel), "utf8");
const expectedPath = (rel: string): string => join(ROOT, rel.replace(/\.vms$/, ".expected"));

/** The lines of NAME.expected (a final newline does not make an extra empty line). */
function expectedLines(rel: string): string[] {
  const lines = readFileSync(expectedPath(rel), "utf8").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const ENGINES = ["ts", "wasm"] as const;
const simulate = (rel: string, engine: "ts" | "wasm"): string[] => runScenarioLines(text(rel), { engine });

describe("scenario files", () => {
  it("there are scenarios", () => {
    expect(scenarios.length).toBeGreaterThan(0);
  });

  it("every .vms has a .expected", () => {
    expect(scenarios.filter((rel) => !existsSync(expectedPath(rel)))).toEqual([]);
  });
});

describe.skipIf(!liveKernelAvailable().ok)("scenarios: live kernel", () => {
  beforeAll(() => {
    buildHarness();
  });

  // A `# sim-only:` scenario's .expected is the simulator's report (scenario-files.test.ts
  // checks it on both engines); a real kernel cannot give it, so it is not run here.
  for (const rel of scenarios.filter((r) => simOnlyReason(text(r)) === null)) {
    it(rel, () => {
      // reportsMatch: KSM scenarios' full_scans may be ahead on the kernel (ksmd keeps scanning).
      const kernel = runOnKernel(text(rel));
      if (!reportsMatch(expectedLines(rel), kernel)) expect.soft(kernel, "live kernel vs .expected").toEqual(expectedLines(rel));
      for (const engine of ENGINES) {
        const sim = simulate(rel, engine);
        if (!reportsMatch(sim, kernel)) expect.soft(sim, `${engine} engine vs live kernel`).toEqual(kernel);
      }
    });
  }
});
