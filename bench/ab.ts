/**
 * Side-by-side comparison of Wasm engine builds on workload (a), the
 * alternating-prot toggles (npm run bench:ab -- A.wasm B.wasm [...]):
 * every build gets its own Simulations in this one process, and batches of
 * 20,000 toggles run on each in turn (the order reversed every other
 * round). This VM's speed drifts by 20-30% from one minute to the next, so
 * two separate runs cannot tell a few percent apart; builds measured
 * alternately in one process can. Build a variant as npm run build does:
 *   npx asc assembly/index.ts --config asconfig.json --target release -o /tmp/B.wasm
 *   node scripts/wasm-inline.mjs build/core.wat /tmp/B.wasm
 * (asc also rewrites build/core.wat: rebuild with npm run build after).
 *
 * Environment: VMASIM_AB_N pages (1,000,000), VMASIM_AB_BATCHES rounds
 * (300), VMASIM_AB_SLOTS instances of every build (2; the second set in
 * reverse order: a fresh instance runs up to ~5% faster or slower than an
 * identical one, by where its memory lands, so one instance a build cannot
 * tell a few percent); the first fifth of the rounds is dropped as
 * warm-up. Prints each build's median, mean and 10th percentile in ns a
 * toggle over all its instances, the median of its per-round ratios to the
 * first build (each round's time the mean of the build's instances; paired,
 * so the drift cancels), each instance's median, and the final VMA count
 * (equal for every instance, or a build is wrong).
 */
import { alternatingSpace, requireSuccess } from "./alternating.js";
import { buildsFromArgv, median } from "./builds.js";

const n = Number(process.env.VMASIM_AB_N ?? 1_000_000);
const rounds = Number(process.env.VMASIM_AB_BATCHES ?? 300);
const slots = Math.max(1, Number(process.env.VMASIM_AB_SLOTS ?? 2));
const per = 20_000;
const results = new Float64Array(per);

const builds = buildsFromArgv("bench:ab").map((b) => ({ ...b, instances: [] as { space: ReturnType<typeof alternatingSpace>; times: number[] }[] }));
for (let s = 0; s < slots; s++) {
  for (const build of s & 1 ? [...builds].reverse() : builds) build.instances.push({ space: alternatingSpace({ engine: "wasm", wasm: build.wasm }, n), times: [] });
}
const instances = builds.flatMap((build) => build.instances.map((inst) => ({ build, inst })));

for (let r = 0; r < rounds; r++) {
  for (const { build, inst } of r & 1 ? [...instances].reverse() : instances) {
    const { w, p, b } = inst.space;
    const t0 = performance.now();
    w.toggles(p, b, per);
    b.runRaw(results);
    inst.times.push(((performance.now() - t0) * 1e6) / per);
    requireSuccess(results, `${build.file}, round ${r}`);
  }
}

const skip = Math.floor(rounds / 5);
/** A build's time in round r: the mean of its instances'. */
const roundTime = (build: (typeof builds)[0], r: number) => build.instances.reduce((sum, inst) => sum + inst.times[r]!, 0) / build.instances.length;
for (const build of builds) {
  const t = build.instances.flatMap((inst) => inst.times.slice(skip)).sort((a, b) => a - b);
  const mean = t.reduce((a, b) => a + b, 0) / t.length;
  const at = (q: number) => t[Math.min(t.length - 1, Math.floor(t.length * q))]!.toFixed(0);
  const ratios: number[] = [];
  for (let r = skip; r < rounds; r++) ratios.push(roundTime(build, r) / roundTime(builds[0]!, r));
  const paired = build === builds[0] ? "" : `  paired ${median(ratios).toFixed(3)}x the first`;
  const each = build.instances.map((inst) => median(inst.times.slice(skip)).toFixed(0)).join(", ");
  const vmas = build.instances.map((inst) => inst.space.p.mapCount).join(", ");
  console.log(`${build.file}: median ${at(0.5)}  mean ${mean.toFixed(0)}  p10 ${at(0.1)} ns a toggle${paired}  (instances: ${each}; ${vmas} VMAs)`);
}
