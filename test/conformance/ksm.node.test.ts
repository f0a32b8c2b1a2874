/**
 * KSM conformance: the scenarios of test/scenarios-ksm and random KSM
 * scenarios on the live kernel and the simulator. ksmd runs in the
 * background on the kernel, so after `ksm_scan N` it may have done a few
 * more passes: full_scans is compared as "at least", everything else
 * exactly (the scenarios let KSM converge before every ksm_stat).
 * VMASIM_KSM_RUNS overrides the number of random scenarios (default 100).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { reportsMatch } from "../../bindings/scenario/compare.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomKsmScenario } from "../support/random-ksm.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "scenarios-ksm");
const files = readdirSync(DIR).filter((f) => f.endsWith(".vms")).sort();
const read = (f: string) => readFileSync(join(DIR, f), "utf8");
const lines = (t: string) => t.split("\n").filter((l, i, a) => l !== "" || i < a.length - 1);

/** Why the live KSM comparison cannot run here, or null. */
function ksmUnavailable(): string | null {
  const live = liveKernelAvailable();
  if (!live.ok) return live.reason;
  try {
    const run = readFileSync("/sys/kernel/mm/ksm/run", "utf8").trim();
    const shared = Number(readFileSync("/sys/kernel/mm/ksm/pages_shared", "utf8"));
    if (run !== "0" || shared !== 0) return `another process is using KSM (run=${run}, pages_shared=${shared})`;
  } catch {
    return "no /sys/kernel/mm/ksm (kernel without CONFIG_KSM)";
  }
  return null;
}
const unavailable = ksmUnavailable();

/** Compare a simulator report with the kernel's: full_scans as "kernel has at least as many". */
function expectKernelMatch(sim: string[], kernel: string[]): void {
  if (!reportsMatch(sim, kernel)) expect(sim.join("\n")).toBe(kernel.join("\n"));
}

describe("KSM scenarios: simulator gives .expected", () => {
  for (const f of files) {
    it(f, () => {
      expect(runScenarioLines(read(f), { engine: "ts" })).toEqual(lines(read(f.replace(/\.vms$/, ".expected"))));
    });
  }
});

describe.skipIf(unavailable !== null)(`KSM on the live kernel${unavailable === null ? "" : ` (skipped: ${unavailable})`}`, () => {
  for (const f of files) {
    it(f, () => {
      expectKernelMatch(runScenarioLines(read(f), { engine: "ts" }), runOnKernel(read(f)));
    });
  }

  const runs = Number(process.env.VMASIM_KSM_RUNS ?? 100);
  it(`${runs} random KSM scenarios converge to the kernel's counters`, () => {
    let checked = 0;
    fc.assert(
      fc.property(randomKsmScenario(), (text) => {
        checked++;
        expectKernelMatch(runScenarioLines(text, { engine: "ts" }), runOnKernel(text));
      }),
      { numRuns: runs },
    );
    console.log(`random-ksm: ${checked} scenarios checked against the live kernel`);
  });
});
