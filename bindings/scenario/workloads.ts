import { type AddressSpace, type Batch, type EngineName, Simulation } from "../facade.js";

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

/**
 * The alternating-prot workload (benchmark (a), `vmasim stress`, and
 * harness/vmasim-kbench.c on the live kernel): n single pages at
 * consecutive addresses from BASE, alternating rw-/r--, then random
 * single-page mprotect toggles (xorshift32 from the seed, page = draw mod n).
 * Which pages are read-only is kept a bit a page (125 KiB at 1M pages,
 * which stays in the caches): a byte a page cost a cache miss of its own
 * per toggle there.
 */
export class AlternatingProt {
  static readonly BASE = 0x100000000000;
  static readonly PAGE = 4096;
  private readonly readOnly: Uint32Array;
  private readonly rng: XorShift;

  constructor(
    readonly n: number,
    seed = 1,
  ) {
    this.readOnly = new Uint32Array((n + 31) >>> 5);
    this.rng = new XorShift(seed);
  }

  /** Queue the n mmaps on b; every 65536 calls the batch goes to ran (which runs it). */
  map(p: AddressSpace, b: Batch, ran: (done: number) => void): void {
    const { BASE, PAGE } = AlternatingProt;
    for (let i = 0; i < this.n; i++) {
      if (i & 1) this.readOnly[i >>> 5]! |= 1 << (i & 31);
      b.mmap(p, BASE + i * PAGE, PAGE, i & 1 ? 1 : 3, 0x32);
      if (b.length === 1 << 16) ran(i + 1);
    }
  }

  /** Queue one random toggle on b. */
  toggle(p: AddressSpace, b: Batch): void {
    const i = this.rng.int(0, this.n - 1);
    const bit = 1 << (i & 31);
    const word = (this.readOnly[i >>> 5]! ^= bit);
    b.mprotect(p, AlternatingProt.BASE + i * AlternatingProt.PAGE, AlternatingProt.PAGE, word & bit ? 1 : 3);
  }

  private pages = new Uint32Array(0);
  private prots = new Uint8Array(0);

  /**
   * Queue count random toggles on b: the same calls as count toggle()s, drawn
   * in stages (the pages, then the bit set's flips, then the calls), so that
   * the bit set's cache misses (a random word of n/8 bytes a toggle) overlap
   * instead of each waiting behind the generator: ~14 of ~35 ns a toggle at
   * 1M pages. (A set bit means read-only: prot 1, else 3.)
   */
  toggles(p: AddressSpace, b: Batch, count: number): void {
    if (this.pages.length < count) {
      this.pages = new Uint32Array(count);
      this.prots = new Uint8Array(count);
    }
    const { pages, prots, readOnly, rng } = this;
    const last = this.n - 1;
    for (let k = 0; k < count; k++) pages[k] = rng.int(0, last);
    for (let k = 0; k < count; k++) {
      const i = pages[k]!;
      // The flipped bit read back by arithmetic, not a branch: for random pages a branch mispredicts half the time (~4 ns a toggle).
      const word = (readOnly[i >>> 5]! ^= 1 << (i & 31));
      prots[k] = 3 - (((word >>> (i & 31)) & 1) << 1);
    }
    const { BASE, PAGE } = AlternatingProt;
    for (let k = 0; k < count; k++) b.mprotect(p, BASE + pages[k]! * PAGE, PAGE, prots[k]!);
  }
}

export interface StressResult {
  readonly buildSeconds: number;
  readonly churnSeconds: number;
  readonly vmas: number;
  /** Engine memory after the build, if the engine can tell. */
  readonly memoryBytes: number | null;
}

/** Build n VMAs and make m random toggles (AlternatingProt), in batches. */
export function stress(engine: EngineName, n: number, m: number, progress: (phase: string, done: number, total: number) => void = () => {}): StressResult {
  const sim = new Simulation({ engine });
  sim.maxMapCount = n + 65530;
  const p = sim.process("main");
  const b = sim.batch();
  const w = new AlternatingProt(n);
  let t0 = performance.now();
  w.map(p, b, (done) => {
    checkBatch(b.runRaw());
    progress("build", done, n);
  });
  checkBatch(b.runRaw());
  const buildSeconds = (performance.now() - t0) / 1000;
  const memoryBytes = sim.engine.memoryBytes();
  t0 = performance.now();
  for (let k = 0; k < m; k++) {
    w.toggle(p, b);
    if (b.length === 1 << 16) {
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
