import fc from "fast-check";
import { it } from "vitest";
import { writeFileSync } from "node:fs";
import { randomScenario } from "../test/support/random-scenario.js";
import { runScenarioLines } from "../bindings/scenario/run.js";
import { runOnKernel } from "../bindings/harness/live.js";
it("explore", () => {
  const samples = fc.sample(randomScenario(), { numRuns: Number(process.env.N ?? 200), seed: Number(process.env.SEED ?? 1) });
  let bad = 0;
  samples.forEach((s, i) => {
    let a: string;
    try { a = runScenarioLines(s).join("\n"); } catch (e) { bad++; writeFileSync(`/tmp/crash-${i}.vms`, s + "# " + (e as Error).stack); return; }
    const b = runOnKernel(s).join("\n");
    if (a !== b) { bad++; writeFileSync(`/tmp/mism-${i}.vms`, s); }
  });
  console.log(`mismatches: ${bad}/${samples.length}`);
});
