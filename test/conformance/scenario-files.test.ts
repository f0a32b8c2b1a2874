/// <reference types="vite/client" />
/**
 * Every scenario under test/scenarios on both engines must give its .expected
 * report (the kernel's). Loaded through Vite, so it runs unchanged in Node
 * and in the browser project: the same reports in both.
 */
import { describe, expect, it } from "vitest";
import { runScenarioLines } from "../../bindings/scenario/run.js";

const vms = import.meta.glob("../scenarios/**/*.vms", { query: "?raw", import: "default", eager: true }) as Record<string, string>;
const expected = import.meta.glob("../scenarios/**/*.expected", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

const names = Object.keys(vms).sort();

function lines(text: string): string[] {
  const l = text.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}

describe("scenario files", () => {
  it("there are scenarios, each with a .expected", () => {
    expect(names.length).toBeGreaterThan(50);
    expect(names.filter((n) => expected[n.replace(/\.vms$/, ".expected")] === undefined)).toEqual([]);
  });
});

describe.each(["ts", "wasm"] as const)("scenarios: %s engine gives .expected", (engine) => {
  for (const name of names) {
    it(name.replace("../scenarios/", ""), () => {
      expect(runScenarioLines(vms[name]!, { engine })).toEqual(lines(expected[name.replace(/\.vms$/, ".expected")]!));
    });
  }
});
