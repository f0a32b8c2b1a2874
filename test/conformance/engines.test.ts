/**
 * Differential test: random scenarios (every VMA command, several processes,
 * fork) give byte-identical reports on the reference engine and the Wasm
 * engine. VMASIM_ENGINE_RUNS overrides the count (default 1000).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomScenario } from "../support/random-scenario.js";

// In the browser project there is no process.env: the default applies.
const env = typeof process === "undefined" ? undefined : process.env.VMASIM_ENGINE_RUNS;
const runs = Number(env ?? 1000);

describe("reference engine vs Wasm engine", () => {
  it(`${runs} random scenarios give identical reports`, () => {
    fc.assert(
      fc.property(randomScenario(10, 40, true), fc.constantFrom("6.12", "6.16", "6.17", "6.18"), (text, kernel) => {
        expect(runScenarioLines(text, { engine: "wasm", kernel }).join("\n")).toBe(runScenarioLines(text, { engine: "ts", kernel }).join("\n"));
      }),
      { numRuns: runs },
    );
  });
});
