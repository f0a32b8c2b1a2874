/**
 * Side-by-side comparison of Wasm engine builds on workload (e), ksmd's
 * page visits (npm run bench:ab-ksm -- A.wasm B.wasm [...]): a fresh
 * Simulation per build and run (bench/ksm_visits.ts, as row (e) of npm run
 * bench), the builds taking turns (the order reversed every other round),
 * each run measuring the bench's passes (three). As with bench:ab, only
 * builds measured alternately in one process can be told a few percent
 * apart on this VM.
 *
 * Environment: VMASIM_AB_N pages (1,000,000), VMASIM_AB_RUNS runs a build
 * (7). Prints each build's median and every run's visits a second.
 */
import { buildsFromArgv, median } from "./builds.js";
import { ksmPasses, ksmSpace } from "./ksm_visits.js";

const n = Number(process.env.VMASIM_AB_N ?? 1_000_000);
const runs = Number(process.env.VMASIM_AB_RUNS ?? 7);
const builds = buildsFromArgv("bench:ab-ksm").map((b) => ({ ...b, rates: [] as number[] }));

for (let r = 0; r < runs; r++) {
  for (const build of r & 1 ? [...builds].reverse() : builds) {
    const space = ksmSpace({ engine: "wasm", wasm: build.wasm }, n);
    (globalThis as { gc?: () => void }).gc?.();
    const { visits, scanMs } = ksmPasses(space, 3);
    build.rates.push(visits / (scanMs / 1000));
  }
}

const fmt = (x: number) => `${(x / 1e6).toFixed(2)}M`;
for (const build of builds) {
  console.log(`${build.file}: median ${fmt(median(build.rates))} visits/s  (runs: ${build.rates.map(fmt).join(", ")})`);
}
