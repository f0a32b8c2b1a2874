/**
 * Random scenarios (10 to 40 calls in a 64-page window, every VMA command,
 * several processes and fork) run on the live kernel and on both engines:
 * the reports must be identical. VMASIM_RANDOM_RUNS / VMASIM_RANDOM_SEED
 * override the count (default 500) and the seed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomScenario } from "../support/random-scenario.js";

const live = liveKernelAvailable();
const runs = Number(process.env.VMASIM_RANDOM_RUNS ?? 500);
const seed = process.env.VMASIM_RANDOM_SEED === undefined ? undefined : Number(process.env.VMASIM_RANDOM_SEED);

describe.skipIf(!live.ok)(`random scenarios on the live kernel${live.ok ? "" : ` (skipped: ${live.reason})`}`, () => {
  it(`${runs} random scenarios give the kernel's report`, () => {
    let checked = 0;
    fc.assert(
      fc.property(randomScenario(10, 40), (text) => {
        checked++;
        const kernel = runOnKernel(text).join("\n");
        expect(runScenarioLines(text, { engine: "ts" }).join("\n")).toBe(kernel);
        expect(runScenarioLines(text, { engine: "wasm" }).join("\n")).toBe(kernel);
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
    );
    console.log(`random-kernel: ${checked} scenarios checked against the live kernel`);
  });
});
