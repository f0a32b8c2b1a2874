/**
 * The records of mm/ksm.c: struct ksm_rmap_item, struct ksm_stable_node and
 * struct ksm_mm_slot, the knobs of /sys/kernel/mm/ksm, the rmap_item flags,
 * the sizes and costs the counters and the clock are charged with, and the
 * two page primitives every tree walk uses (memcmp of contents, the
 * checksum). ksmd.ts, ksm_stable.ts and ksm_sysfs.ts share them.
 */
import type { Mm, Page } from "./mm_types.js";
import type { RbNode } from "./rbtree.js";

export const UNSTABLE = 1;
export const STABLE = 2;
/** sizeof(struct ksm_rmap_item) on x86-64: what the profit formulas charge per item. */
export const RMAP_ITEM_BYTES = 64;
/** HZ of the oracle kernel: sleeps are whole jiffies of 4 ms. */
export const JIFFY_MS = 4;
/** The simulated cost of a batch that does not sleep: per batch and per processed page (us). */
export const BATCH_US = 10;
export const PAGE_US = 2;

/**
 * memcmp() of two pages: each holds a 64-bit little-endian value repeated, so
 * they compare by the value's bytes from the least significant one up.
 */
export function memcmp_pages(a: bigint, b: bigint): number {
  if (a === b) return 0;
  for (let shift = 0n; shift < 64n; shift += 8n) {
    const x = (a >> shift) & 0xffn;
    const y = (b >> shift) & 0xffn;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** struct ksm_rmap_item: one per (mm, scanned page); a node of the unstable tree while UNSTABLE. */
export class RmapItem implements RbNode<RmapItem> {
  rbParent: RmapItem | null = null;
  rbLeft: RmapItem | null = null;
  rbRight: RmapItem | null = null;
  rbRed = false;
  oldchecksum = 0;
  age = 0;
  remainingSkips = 0;
  flags = 0;
  /** Low byte of seqnr when inserted in the unstable tree. */
  seq = 0;
  /** The stable node this item maps (STABLE). */
  head: StableNode | null = null;
  constructor(
    readonly mm: Mm,
    readonly address: number,
  ) {}
}

/** struct ksm_stable_node: a regular node, a chain (of dups), or a dup. */
export class StableNode implements RbNode<StableNode> {
  rbParent: StableNode | null = null;
  rbLeft: StableNode | null = null;
  rbRight: StableNode | null = null;
  rbRed = false;
  /** rmap_items mapping this node's KSM page, head first (regular node or dup). */
  readonly items: RmapItem[] = [];
  /** The dups of a chain, head first. */
  readonly dups: StableNode[] = [];
  /** For a dup: its chain. */
  chain: StableNode | null = null;
  /** For a chain: simulated ms of the last prune. */
  pruneTime = 0;
  constructor(
    readonly id: number,
    readonly isChain: boolean,
    /** The KSM page (null for a chain). */
    readonly page: Page | null,
    readonly content: bigint,
  ) {}
}

/** struct ksm_mm_slot. */
export class MmSlot {
  readonly items: RmapItem[] = [];
  constructor(readonly mm: Mm) {}
}

/** The knobs of /sys/kernel/mm/ksm. */
export interface KsmKnobs {
  run: number;
  pages_to_scan: number;
  sleep_millisecs: number;
  max_page_sharing: number;
  use_zero_pages: number;
  smart_scan: number;
  merge_across_nodes: number;
  stable_node_chains_prune_millisecs: number;
  advisor_mode: number;
  advisor_target_scan_time: number;
  advisor_min_pages_to_scan: number;
  advisor_max_pages_to_scan: number;
  advisor_max_cpu: number;
}

/** A low-32-bit page checksum (calc_checksum): any change of content changes it; 0 is not a value it takes. */
export function calc_checksum(content: bigint): number {
  let x = BigInt.asUintN(64, content + 0x9e3779b97f4a7c15n);
  x = BigInt.asUintN(64, (x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n);
  x = BigInt.asUintN(64, (x ^ (x >> 27n)) * 0x94d049bb133111ebn);
  x ^= x >> 31n;
  return Number(x & 0xffffffffn) || 1;
}
