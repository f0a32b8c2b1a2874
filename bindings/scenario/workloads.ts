import { type EngineName, Simulation } from "../facade.js";

/**
 * Generated workloads: scenario texts used by the showcase, benchmarks and
 * tests. Deterministic (own PRNG) so that every engine and the live kernel
 * see the same calls.
 */

/** xorshift32: a tiny deterministic PRNG, the same in every engine and test. */
export class XorShift {
  /** The state's 32 bits as a signed int32: a small integer to V8, where a uint32 above 2^31 is a boxed double. */
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0 || 0x9e3779b9) | 0;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    const x = this.next();
    const range = hi - lo + 1;
    // x mod range without `%`, which V8 compiles to the x87 fprem here (most
    // of a benchmark's workload generation). Exact: x < 2^32, so x / range
    // is never rounded across an integer.
    return range > 0 ? lo + (x - Math.floor(x / range) * range) : lo + (x % range);
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * An allocator-like pattern under PR_SET_MEMORY_MERGE: arenas of 1 to 16
 * pages mapped one below the other (as top-down mmap places them), a third of
 * them written at once, every eighth given a read-only page, some freed and
 * mapped again.
 */
export function allocatorWorkload(chunks: number, seed = 1): string {
  const rng = new XorShift(seed);
  const out = ["# allocator-like workload: adjacent anonymous arenas under PR_SET_MEMORY_MERGE", "prctl memory_merge 1"];
  let top = 0x100000000000 + 0x10000000;
  const placed: [number, number][] = [];
  for (let i = 0; i < chunks; i++) {
    const pages = rng.int(1, 16);
    top -= pages * 4096;
    placed.push([top, pages]);
    out.push(`mmap ${hex(top)} ${pages}p rw- private|anon|fixed_noreplace`);
    if (i % 3 === 0) out.push(`write ${hex(top)} 1p`);
    if (i % 8 === 7 && pages > 2) out.push(`mprotect ${hex(top + 4096)} 1p r--`);
  }
  for (let i = 0; i < chunks / 10; i++) {
    const [addr, pages] = placed[rng.int(0, placed.length - 1)]!;
    out.push(`munmap ${hex(addr)} ${pages}p`, `mmap ${hex(addr)} ${pages}p rw- private|anon|fixed`);
  }
  out.push("count");
  return `${out.join("\n")}\n`;
}

export interface StressResult {
  readonly buildSeconds: number;
  readonly churnSeconds: number;
  readonly vmas: number;
  /** Engine memory after the build, if the engine can tell. */
  readonly memoryBytes: number | null;
}

/**
 * Build n VMAs (single pages at consecutive addresses, alternating rw-/r--)
 * in batches, then make m random single-page mprotect toggles.
 */
export function stress(engine: EngineName, n: number, m: number, progress: (phase: string, done: number, total: number) => void = () => {}): StressResult {
  const BASE = 0x100000000000;
  const sim = new Simulation({ engine });
  sim.maxMapCount = n + 65530;
  const p = sim.process("main");
  const b = sim.batch();
  const prot = new Uint8Array(n);
  const step = 1 << 16;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    prot[i] = i & 1;
    b.mmap(p, BASE + i * 4096, 4096, prot[i] ? 1 : 3, 0x32);
    if (b.length === step) {
      checkBatch(b.runRaw());
      progress("build", i + 1, n);
    }
  }
  checkBatch(b.runRaw());
  const buildSeconds = (performance.now() - t0) / 1000;
  const memoryBytes = sim.engine.memoryBytes();
  const rng = new XorShift(1);
  t0 = performance.now();
  for (let k = 0; k < m; k++) {
    const i = rng.int(0, n - 1);
    prot[i]! ^= 1;
    b.mprotect(p, BASE + i * 4096, 4096, prot[i] ? 1 : 3);
    if (b.length === step) {
      checkBatch(b.runRaw());
      progress("churn", k + 1, m);
    }
  }
  checkBatch(b.runRaw());
  return { buildSeconds, churnSeconds: (performance.now() - t0) / 1000, vmas: p.mapCount, memoryBytes };
}

function checkBatch(results: Float64Array): void {
  for (const r of results) if (r < 0) throw new Error(`stress: a call failed with errno ${-r}`);
}
