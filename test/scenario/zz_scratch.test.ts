import { it } from "vitest";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { resolveKernel } from "../../bindings/kernel/versions.js";
function tryRun(t: string) { try { return runScenarioLines(t); } catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; } }
it("scratch", () => {
  console.log(tryRun("fork main"));
  console.log(tryRun("madvise 0x100000000000 1p toString"));
  console.log(tryRun("mmap 0x100000000000 1p rw- private|anon|fixed|toString\nmaps"));
  try { console.log(resolveKernel("toString")); } catch (e) { console.log("threw", (e as Error).message); }
  try { console.log(resolveKernel("6.18", ["toString=on"])); } catch (e) { console.log("threw", (e as Error).message); }
  let t0 = Date.now();
  console.log(tryRun("mmap 0x100000000000 0x1000000000 rw- private|anon|fixed\nwrite 0x100000000000 0x1000000000\ncount"), Date.now() - t0, "ms for 2^24 pages");
});
