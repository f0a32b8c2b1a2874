/**
 * Generated workloads: scenario texts used by the showcase, benchmarks and
 * tests. Deterministic (own PRNG) so that every engine and the live kernel
 * see the same calls.
 */

/** xorshift32: a tiny deterministic PRNG, the same in every engine and test. */
export class XorShift {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
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
