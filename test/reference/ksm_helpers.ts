/**
 * What the KSM rule tests (ksmd.test.ts, ksm_stable.test.ts,
 * ksm_sysfs.test.ts) share: mergeable regions, page fills, full scans, and
 * the global and per-process counters as the rules talk about them.
 */
import { expect } from "vitest";
import type { AddressSpace, PageContent, Simulation } from "../../bindings/facade.js";
import { P, a, ok } from "../support/facade.js";

/** mmap private anonymous memory at window page `start`, MADV_MERGEABLE unless told not to. */
export function region(p: AddressSpace, start: number, pages: number, mergeable = true): void {
  ok(p.mmap(a(start), pages * P, "rw-", "private|anon|fixed"));
  if (mergeable) ok(p.madvise(a(start), pages * P, "mergeable"));
}

/** Write pages [start, start+pages): a bigint fills each page with that value. */
export function fill(p: AddressSpace, start: number, pages: number, content: bigint | PageContent): void {
  ok(p.write(a(start), pages * P, typeof content === "bigint" ? { value: content } : content));
}

export function scan(sim: Simulation, n = 1): void {
  expect(sim.ksmScan(n)).toBe(true);
}

/** The global counters the rules talk about (rmap = shared + sharing + unshared + volatile). */
export function g(sim: Simulation) {
  const s = sim.ksmStat();
  return {
    shared: s.pagesShared, sharing: s.pagesSharing, unshared: s.pagesUnshared, volatile: s.pagesVolatile,
    chains: s.stableNodeChains, dups: s.stableNodeDups, zero: s.ksmZeroPages,
    rmap: s.pagesShared + s.pagesSharing + s.pagesUnshared + s.pagesVolatile,
  };
}

export function proc(p: AddressSpace) {
  const s = p.ksmStat();
  return { rmap: s.ksmRmapItems, merging: s.ksmMergingPages, zero: s.ksmZeroPages };
}

/** The expected counters after n copies of one content were processed twice with max_page_sharing m (§2.8). */
export function nModM(n: number, m: number) {
  const ksm = Math.floor(n / m) + (n % m >= 2 ? 1 : 0);
  const leftover = n % m === 1 ? 1 : 0;
  return {
    shared: ksm, sharing: n - ksm - leftover, unshared: leftover, volatile: 0, chains: ksm >= 2 ? 1 : 0, dups: ksm >= 2 ? ksm : 0,
    zero: 0, rmap: n,
  };
}
