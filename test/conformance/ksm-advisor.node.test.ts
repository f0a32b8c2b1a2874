/**
 * The scan-time advisor on the live kernel, qualitatively: its
 * pages_to_scan follows ksmd's real CPU time, so only what does not depend
 * on it is compared. Switching advisor_mode to scan-time shows
 * advisor_min_pages_to_scan at once and refuses pages_to_scan writes; after
 * three passes over 200 light pages (about 1 % CPU, so each step at least
 * multiplies pages_to_scan by 5) it sits at advisor_max_pages_to_scan, as in
 * the simulator; switching it off restores 100. Skipped, with the reason,
 * when KSM is in use or the harness cannot run. Every knob is restored
 * (advisor_mode, pages_to_scan, then run last), even on failure.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";

const KSM = "/sys/kernel/mm/ksm";
const read = (key: string): string => readFileSync(`${KSM}/${key}`, "utf8").trim();

/** Why the test cannot run here, or null. */
function unavailable(): string | null {
  const live = liveKernelAvailable();
  if (!live.ok) return live.reason;
  try {
    const run = read("run");
    const shared = Number(read("pages_shared"));
    if (run !== "0" || shared !== 0) return `another process is using KSM (run=${run}, pages_shared=${shared})`;
    if (read("advisor_mode") !== "[none] scan-time") return `advisor_mode is not none here (${read("advisor_mode")})`;
  } catch {
    return "no /sys/kernel/mm/ksm with the advisor (kernel without CONFIG_KSM, or before 6.7)";
  }
  return null;
}
const skip = unavailable();

const SCENARIO = `
mmap 0x100000000000 200p rw- private|anon|fixed
madvise 0x100000000000 200p mergeable
write 0x100000000000 200p cycle 4
ksm smart_scan=0 sleep_millisecs=20 advisor_min_pages_to_scan=300 advisor_max_pages_to_scan=123 advisor_mode=scan-time
ksm_get advisor_mode pages_to_scan
ksm pages_to_scan=7
ksm run=1
ksm_scan 3
ksm_get pages_to_scan
ksm run=0 advisor_mode=none
ksm_get advisor_mode pages_to_scan
`;

const EXPECTED = [
  "advisor_mode none [scan-time]", "pages_to_scan 300", "! 7 ksm EINVAL", "pages_to_scan 123",
  "advisor_mode [none] scan-time", "pages_to_scan 100",
];

describe.skipIf(skip !== null)(`the scan-time advisor on the live kernel${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  it("starts at advisor_min_pages_to_scan, moves pages_to_scan at pass ends up to the cap, and none restores 100", () => {
    const before = Object.fromEntries(
      ["advisor_min_pages_to_scan", "advisor_max_pages_to_scan", "pages_to_scan", "sleep_millisecs", "smart_scan"].map((k) => [k, read(k)]),
    );
    try {
      expect(runOnKernel(SCENARIO)).toEqual(EXPECTED);
      expect(runScenarioLines(SCENARIO, { engine: "ts" })).toEqual(EXPECTED);
      expect(runScenarioLines(SCENARIO, { engine: "wasm" })).toEqual(EXPECTED);
    } finally {
      // runOnKernel restores what it changed; make sure of the order that matters: the mode, pages_to_scan, run last.
      const write = (k: string, v: string): void => {
        try {
          writeFileSync(`${KSM}/${k}`, v);
        } catch {
          // reported by the checks below
        }
      };
      write("advisor_mode", "none");
      for (const [k, v] of Object.entries(before)) write(k, v);
      write("run", "0");
      expect(read("advisor_mode")).toBe("[none] scan-time");
      expect(read("pages_to_scan")).toBe(before.pages_to_scan);
      expect(read("run")).toBe("0");
    }
  });
});
