/**
 * What bench/run.ts (row (e)) and bench/ksm-ab.ts share: the KSM workload
 * (n mergeable pages holding n/10 distinct contents, ksmd at full speed),
 * and its measured passes (each a full scan, then a tenth of the pages
 * rewritten with fresh contents, as the kernel side's writer does).
 */
import { type AddressSpace, type Batch, Simulation, type SimulationOptions } from "../bindings/facade.js";
import { XorShift } from "../bindings/scenario/workloads.js";

const BASE = 0x100000000000;
const PAGE = 4096;

export interface KsmSpace {
  readonly sim: Simulation;
  readonly p: AddressSpace;
  readonly b: Batch;
  readonly n: number;
  readonly rng: XorShift;
  fresh: number;
}

/**
 * n pages mapped, madvised mergeable and written (contents i mod n/10 + 1,
 * so runs of consecutive pages repeat), ksmd running with pages_to_scan at
 * its maximum and no sleep; throws what the engine refuses (an engine
 * without KSM).
 */
export function ksmSpace(options: SimulationOptions, n: number): KsmSpace {
  const sim = new Simulation(options);
  const p = sim.process("main");
  const b = sim.batch();
  b.mmap(p, BASE, n * PAGE, 3, 0x32);
  b.madvise(p, BASE, n * PAGE, "mergeable");
  b.runRaw();
  sim.ksmWrite("smart_scan", "0");
  const distinct = Math.max(1, Math.floor(n / 10));
  for (let i = 0; i < n; i++) b.write(p, BASE + i * PAGE, PAGE, { value: BigInt((i % distinct) + 1) });
  b.runRaw();
  sim.ksmWrite("pages_to_scan", "4294967295");
  sim.ksmWrite("sleep_millisecs", "0");
  sim.ksmWrite("run", "1");
  return { sim, p, b, n, rng: new XorShift(1), fresh: n + 1 };
}

/** `passes` full scans, each followed by n/10 random rewrites: pages visited, ms in the scans, ms in all. */
export function ksmPasses(s: KsmSpace, passes: number): { visits: number; scanMs: number; totalMs: number } {
  const { sim, p, b, n, rng } = s;
  const t0 = performance.now();
  const v0 = sim.ksmStat().pagesScanned;
  let scanMs = 0;
  for (let k = 0; k < passes; k++) {
    const s0 = performance.now();
    sim.ksmScan(1);
    scanMs += performance.now() - s0;
    for (let j = 0; j < n / 10; j++) {
      b.write(p, BASE + rng.int(0, n - 1) * PAGE, PAGE, { value: BigInt(++s.fresh) });
      if (b.length === 4096) b.runRaw();
    }
    b.runRaw();
  }
  return { visits: sim.ksmStat().pagesScanned - v0, scanMs, totalMs: performance.now() - t0 };
}
