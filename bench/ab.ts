/**
 * Side-by-side comparison of Wasm engine builds on workload (a), the
 * alternating-prot toggles (npm run bench:ab -- A.wasm B.wasm [...]):
 * every build gets its own Simulation in this one process, and batches of
 * 20,000 toggles run on each build in turn (the order reversed every other
 * round). This VM's speed drifts by 20-30% from one minute to the next, so
 * two separate runs cannot tell a few percent apart; builds measured
 * alternately in one process can. Build a variant with
 *   npx asc assembly/index.ts --config asconfig.json --target release -o /tmp/B.wasm
 * (which also rewrites build/core.wat: rebuild with npm run build after).
 *
 * Environment: VMASIM_AB_N pages (1,000,000), VMASIM_AB_BATCHES rounds
 * (300); the first fifth of the rounds is dropped as warm-up. Prints each
 * build's median, mean and 10th percentile in ns a toggle, the median of
 * its per-round ratios to the first build (paired, so the drift cancels),
 * and its final VMA count (equal for every build, or a build is wrong).
 */
import { readFileSync } from "node:fs";
import { alternatingSpace, requireSuccess } from "./alternating.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: npm run bench:ab -- A.wasm [B.wasm ...]");
  process.exit(2);
}
const n = Number(process.env.VMASIM_AB_N ?? 1_000_000);
const rounds = Number(process.env.VMASIM_AB_BATCHES ?? 300);
const per = 20_000;
const results = new Float64Array(per);

const runs = files.map((file) => ({ file, ...alternatingSpace({ engine: "wasm", wasm: readFileSync(file) }, n), times: [] as number[] }));

for (let r = 0; r < rounds; r++) {
  for (const run of r & 1 ? [...runs].reverse() : runs) {
    const t0 = performance.now();
    run.w.toggles(run.p, run.b, per);
    run.b.runRaw(results);
    run.times.push(((performance.now() - t0) * 1e6) / per);
    requireSuccess(results, `${run.file}, round ${r}`);
  }
}

const skip = Math.floor(rounds / 5);
const first = runs[0]!.times;
for (const run of runs) {
  const t = run.times.slice(skip).sort((a, b) => a - b);
  const mean = t.reduce((a, b) => a + b, 0) / t.length;
  const at = (q: number) => t[Math.min(t.length - 1, Math.floor(t.length * q))]!.toFixed(0);
  // Paired: each round's time over the first build's in the same round (the VM's drift cancels out).
  const ratios = run.times.slice(skip).map((x, i) => x / first[skip + i]!).sort((a, b) => a - b);
  const paired = run === runs[0] ? "" : `  paired ${ratios[ratios.length >> 1]!.toFixed(3)}x the first`;
  console.log(`${run.file}: median ${at(0.5)}  mean ${mean.toFixed(0)}  p10 ${at(0.1)} ns a toggle${paired}  (${run.p.mapCount} VMAs)`);
}
