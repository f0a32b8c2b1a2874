/**
 * vmasim benchmarks (npm run bench): tinybench tasks on the Wasm engine, the
 * reference engine and, where it applies, the live kernel, measured in one
 * run; printed as a table and saved as JSON (build/bench-results.json).
 *
 *   (a) alternating-prot: N single pages mapped at consecutive addresses,
 *       alternating rw-/r-- (N VMAs), then random single-page mprotect toggles.
 *   (b) mmap/munmap churn at 1M VMAs: munmap a random page, map it again with
 *       a random protection (merging with neighbours when it matches them).
 *   (c) random findVma lookups at 1M and 10M VMAs.
 *   (d) (a) run natively on the live kernel (harness/vmasim-kbench.c).
 *   (e) KSM: ksmd page visits per second over N mergeable pages (N/10
 *       distinct contents, 10% rewritten after every pass), simulated and
 *       on the live kernel (pages_to_scan at its maximum, sleep 0). The
 *       simulated rate is visits per second of simulating ksmd, as the
 *       kernel's is ksmd's own (its writer runs on another CPU meanwhile);
 *       the note gives the simulated rate with the rewrites counted in.
 *
 * (a) and (d) alternate: the Wasm engine and the kernel are measured seven
 * times each, one after the other, and the table has each one's median.
 *
 * bytes/VMA is the Wasm engine's memory after building the N VMAs, divided by N.
 * The reference engine's sorted array makes every insert and erase O(n), so
 * at 1M VMAs it runs a few hundred toggles per iteration instead of 20000.
 *
 * Each measurement starts on a collected heap (npm run bench runs node with
 * --expose-gc): otherwise the reference engine's millions of objects from
 * the workload before are marked and swept on the other CPU meanwhile.
 *
 * VMASIM_BENCH_QUICK=1 shrinks every size (for a smoke run).
 */
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { Bench } from "tinybench";
import type { EngineName } from "../bindings/facade.js";
import { kernelAlternatingBench, kernelKsmBench } from "../bindings/harness/kbench.js";
import { liveKernelAvailable } from "../bindings/harness/live.js";
import { XorShift } from "../bindings/scenario/workloads.js";
import { alternatingSpace, requireSuccess } from "./alternating.js";
import { median } from "./builds.js";
import { type KsmSpace, ksmPasses, ksmSpace } from "./ksm_visits.js";

const BASE = 0x100000000000;
const PAGE = 4096;
const quick = process.env.VMASIM_BENCH_QUICK === "1";
const scale = (n: number) => (quick ? Math.max(1000, Math.floor(n / 100)) : n);

interface Row {
  workload: string;
  size: string;
  engine: string;
  opsPerSecond: number;
  bytesPerVma?: number;
  note?: string;
}
const rows: Row[] = [];

/** Collect the garbage of everything before (when node runs with --expose-gc) so that it is not collected during a measurement. */
function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const fmt = (x: number) => (Number.isNaN(x) ? "n/a" : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

/** Runs one tinybench task of `ops` operations per iteration; returns ops/s. */
async function measure(name: string, ops: number, fn: () => void, heavy: boolean): Promise<number> {
  const bench = new Bench({ name, time: heavy ? 500 : 1000, iterations: heavy ? 2 : 10, warmup: !heavy, warmupIterations: 2 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== "completed") throw new Error(`${name}: ${r.state}${"error" in r ? `: ${String(r.error)}` : ""}`);
  return r.throughput.mean * ops;
}

/** (a) on one engine: toggles per second, and the engine's bytes per VMA after the build (null if it cannot tell). */
async function alternatingRate(engine: EngineName, n: number, toggles: number): Promise<{ ops: number; bytes: number | null }> {
  const { sim, p, w, b } = alternatingSpace({ engine }, n);
  const bytes = sim.engine.memoryBytes();
  const perIter = engine === "ts" && n >= 1_000_000 ? 500 : Math.min(toggles, 20_000);
  // Bulk work: the results land in one buffer, checked after the measurement (every toggle must succeed).
  const results = new Float64Array(perIter);
  settle();
  const ops = await measure(`alternating-prot ${engine} N=${n}`, perIter, () => {
    w.toggles(p, b, perIter);
    b.runRaw(results);
  }, engine === "ts");
  requireSuccess(results, `alternating-prot ${engine} N=${n}`);
  return { ops, bytes };
}

/**
 * (a) and (d) at n: the Wasm engine and the live kernel measured alternately,
 * REPEATS times each, and each one's median in the table (this VM's speed
 * drifts from one minute to the next, and a ratio of two single
 * measurements taken a minute apart scatters with it); the reference engine
 * once.
 */
const REPEATS = quick ? 1 : 7;
async function alternatingProt(n: number, toggles: number): Promise<void> {
  const live = liveKernelAvailable();
  const wasm: number[] = [];
  const kern: number[] = [];
  let bytes: number | null = null;
  for (let r = 0; r < REPEATS; r++) {
    const a = await alternatingRate("wasm", n, toggles);
    wasm.push(a.ops);
    bytes = a.bytes;
    if (live.ok) kern.push(kernelAlternatingBench(n, toggles, 1).opsPerSecond);
  }
  const each = (xs: number[]) => (xs.length > 1 ? `median of ${xs.map(fmt).join(", ")}` : "");
  const size = `N=${n}`;
  rows.push({ workload: "(a) alternating-prot", size, engine: "wasm", opsPerSecond: median(wasm), ...(bytes === null ? {} : { bytesPerVma: bytes / n }), note: each(wasm) });
  const ts = await alternatingRate("ts", n, toggles);
  rows.push({ workload: "(a) alternating-prot", size, engine: "ts", opsPerSecond: ts.ops });
  // Each pair's ratio too: the two were measured a few seconds apart, so a slow minute moves both.
  const pairs = kern.length > 1 ? `; pairs' ratios ${wasm.map((x, i) => (x / kern[i]!).toFixed(1)).join(", ")}` : "";
  if (live.ok) rows.push({ workload: "(a) alternating-prot", size, engine: "kernel", opsPerSecond: median(kern), note: each(kern) + pairs });
  else rows.push({ workload: "(a) alternating-prot", size, engine: "kernel", opsPerSecond: Number.NaN, note: live.reason });
}

async function churn(engine: EngineName, n: number): Promise<void> {
  const { p, b } = alternatingSpace({ engine }, n);
  const rng = new XorShift(2);
  const perIter = engine === "ts" ? 200 : 10_000;
  const results = new Float64Array(2 * perIter);
  settle();
  const ops = await measure(`churn ${engine} N=${n}`, 2 * perIter, () => {
    for (let k = 0; k < perIter; k++) {
      const addr = BASE + rng.int(0, n - 1) * PAGE;
      b.munmap(p, addr, PAGE);
      b.mmap(p, addr, PAGE, rng.int(0, 1) ? 1 : 3, 0x22 | 0x10);
    }
    b.runRaw(results);
  }, engine === "ts");
  requireSuccess(results, `churn ${engine} N=${n}`);
  rows.push({ workload: "(b) mmap/munmap churn", size: `N=${n}`, engine, opsPerSecond: ops });
}

async function lookups(engine: EngineName, n: number): Promise<void> {
  const { sim, p } = alternatingSpace({ engine }, n);
  const rng = new XorShift(3);
  const perIter = 10_000;
  let sink = 0;
  settle();
  const ops = await measure(`findVma ${engine} N=${n}`, perIter, () => {
    for (let k = 0; k < perIter; k++) sink += p.findVma(BASE + rng.int(0, n - 1) * PAGE)!.start;
  }, false);
  if (sink === 0) throw new Error("no lookups");
  const bytes = sim.engine.memoryBytes();
  rows.push({ workload: "(c) random findVma", size: `N=${n}`, engine, opsPerSecond: ops, ...(bytes === null ? {} : { bytesPerVma: bytes / p.mapCount }) });
}

/** KSM page visits per second of the simulated ksmd (engines without KSM are reported as such). */
function ksmVisits(engine: EngineName, n: number, passes: number): void {
  let space: KsmSpace;
  try {
    space = ksmSpace({ engine }, n);
  } catch (e) {
    rows.push({ workload: "(e) KSM page visits", size: `N=${n}`, engine, opsPerSecond: Number.NaN, note: (e as Error).message });
    return;
  }
  settle();
  const { visits, scanMs, totalMs } = ksmPasses(space, passes);
  // ksmd's own rate (as the kernel's: there the writer runs on another CPU meanwhile), and with the rewrites counted in.
  const all = visits / (totalMs / 1000);
  rows.push({ workload: "(e) KSM page visits", size: `N=${n}`, engine, opsPerSecond: visits / (scanMs / 1000), note: `${fmt(all)}/s with the rewrites` });
}

function kernelKsm(n: number, passes: number): void {
  const live = liveKernelAvailable();
  if (!live.ok) {
    rows.push({ workload: "(e) KSM page visits", size: `N=${n}`, engine: "kernel", opsPerSecond: Number.NaN, note: live.reason });
    return;
  }
  try {
    rows.push({ workload: "(e) KSM page visits", size: `N=${n}`, engine: "kernel", opsPerSecond: kernelKsmBench(n, passes, 1).visitsPerSecond });
  } catch (e) {
    rows.push({ workload: "(e) KSM page visits", size: `N=${n}`, engine: "kernel", opsPerSecond: Number.NaN, note: (e as Error).message });
  }
}


async function main(): Promise<void> {
  const m = scale(1_000_000);
  for (const n of [scale(100_000), scale(1_000_000)]) await alternatingProt(n, m);
  await churn("wasm", scale(1_000_000));
  await churn("ts", scale(1_000_000));
  for (const n of [scale(1_000_000), scale(10_000_000)]) {
    await lookups("wasm", n);
    await lookups("ts", n);
  }
  for (const n of [scale(1_000_000), scale(10_000_000)]) {
    ksmVisits("wasm", n, 3);
    ksmVisits("ts", n, 3);
  }
  // 10M pages would need 40 GiB of RAM on the kernel side: only 1M is measured there.
  kernelKsm(scale(1_000_000), 3);

  const table = rows.map((r) => {
    const same = rows.filter((o) => o.workload === r.workload && o.size === r.size);
    const ts = same.find((o) => o.engine === "ts")?.opsPerSecond;
    const k = same.find((o) => o.engine === "kernel")?.opsPerSecond;
    return {
      workload: r.workload, size: r.size, engine: r.engine, "ops/s": fmt(r.opsPerSecond),
      "× ts": ts && r.engine !== "ts" ? (r.opsPerSecond / ts).toFixed(1) : "",
      "× kernel": k && r.engine !== "kernel" ? (r.opsPerSecond / k).toFixed(1) : "",
      "bytes/VMA": r.bytesPerVma === undefined ? "" : r.bytesPerVma.toFixed(1),
      note: r.note ?? "",
    };
  });
  console.table(table);
  mkdirSync("build", { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? "?", cpus: cpus().length, quick };
  writeFileSync("build/bench-results.json", `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  console.log("saved build/bench-results.json");
}

await main();
