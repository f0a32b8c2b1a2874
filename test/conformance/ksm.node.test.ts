/**
 * KSM conformance: random KSM scenarios on the live kernel and the
 * simulator (the files of test/scenarios/ksm are checked with the other
 * scenario files, in scenarios.node.test.ts and scenario-files.test.ts). ksmd runs in the
 * background on the kernel, so after `ksm_scan N` it may have done a few
 * more passes: full_scans is compared as "at least", everything else
 * exactly (the scenarios let KSM converge before every ksm_stat).
 * VMASIM_KSM_RUNS overrides the number of random scenarios (default 100),
 * VMASIM_KSM_EXIT_RUNS that of the ones with exits (default 30).
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { reportsMatch } from "../../bindings/scenario/compare.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomKsmScenario } from "../support/random-ksm.js";


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

describe.skipIf(unavailable !== null)(`KSM on the live kernel${unavailable === null ? "" : ` (skipped: ${unavailable})`}`, () => {
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

  const exitRuns = Number(process.env.VMASIM_KSM_EXIT_RUNS ?? 30);
  it(`${exitRuns} random KSM scenarios with processes exiting converge to the kernel's counters`, () => {
    fc.assert(
      fc.property(randomKsmScenario({ exits: true }), (text) => {
        expectKernelMatch(runScenarioLines(text, { engine: "ts" }), runOnKernel(text));
      }),
      { numRuns: exitRuns },
    );
  });
});
