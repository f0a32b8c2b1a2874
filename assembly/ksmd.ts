// ksmd, mirroring bindings/reference/ksmd.ts (after mm/ksm.c): the mm_slot
// list and scan cursor, one rmap_item per scanned page, the stable tree
// (with chains and dups under max_page_sharing) and the unstable tree
// rebuilt every pass, smart scan, zero-page merging, and every counter of
// /sys/kernel/mm/ksm and /proc/PID/ksm_stat. Both trees are red-black trees
// ordered by memcmp of the page contents (rbtree.ts), because a search
// resolves (and may prune or collapse) every node on its path.
//
// Where the reference keeps arrays, the records keep the kernel's lists:
// a slot's rmap_items are a singly linked list in address order with the
// cursor a pointer to the link to follow (ksm_scan.rmap_list), so a visit
// never searches; a stable node's items and a chain's dups are doubly
// linked lists, head first, as the reference's arrays are ordered.
//
// Three shortcuts keep visits cheap without changing any result (each is
// explained where it lives): a stable node keeps its KSM page's content
// and a stale flag, so a walk reads one record per level; a content index
// answers stable_tree_search() when the walk could have no side effect;
// the unstable tree's nodes come from a per-pass arena instead of being the
// rmap_items. The trees' shapes are the reference's: the same rbtree.ts
// operations run in the same order on the same keys.

import { CLASS_ITEM, CLASS_NODE, CLASS_SLOT, block_alloc, block_free, block_reserve, pow2_class } from "./alloc";
import {
  EBUSY, EINVAL, ENOENT, ENOMEM, SW_KSM_ADVISOR, SW_KSM_DUP_CANDIDATES_ONLY, SW_KSM_SMART_SCAN, VM_MERGEABLE,
} from "./generated/facts";
import {
  KNOB_ADVISOR_MAX_CPU, KNOB_ADVISOR_MAX_PAGES_TO_SCAN, KNOB_ADVISOR_MIN_PAGES_TO_SCAN, KNOB_ADVISOR_MODE,
  KNOB_ADVISOR_TARGET_SCAN_TIME, KNOB_MAX_PAGE_SHARING, KNOB_MERGE_ACROSS_NODES, KNOB_PAGES_TO_SCAN, KNOB_RUN,
  KNOB_SLEEP_MILLISECS, KNOB_SMART_SCAN, KNOB_STABLE_NODE_CHAINS_PRUNE_MILLISECS, KNOB_USE_ZERO_PAGES,
} from "./generated/abi";
import {
  KSM_ZERO_PAGE, mm_exited, mm_ksm_merging_pages, mm_ksm_rmap_items, mm_ksm_slot, mm_ksm_zero_pages, mm_merge_any, mm_page_count,
  mm_set_ksm_merging_pages, mm_set_ksm_registered, mm_set_ksm_rmap_items, mm_set_ksm_slot, mm_set_ksm_zero_pages,
  page_content, page_mapcount, page_set_mapcount, page_set_stable, page_stable, vma_anon, vma_end, vma_flags, vma_start,
} from "./mm_types";
import { NO_PAGE, page_release, page_unmap, pt_count_ksm, pt_get, pt_next, pt_replace, ptPage, unshare_ksm_range } from "./pages";
import { rb_erase, rb_first, rb_insert_color, rb_left, rb_link_node, rb_next, rb_replace_node, rb_right, rb_root_node } from "./rbtree";
import { treeGen, tree_find, tree_iter_first, tree_iter_next, tree_lookup, tree_next } from "./tree";
import { sw } from "./kernel";
import { advisor_start_scan, advisor_stop_scan, knob_u64, set_advisor_defaults } from "./ksm_advisor";

const UNSTABLE: u32 = 1;
const STABLE: u32 = 2;
/** sizeof(struct ksm_rmap_item) on x86-64: what the profit formulas charge per item. */
const RMAP_ITEM_BYTES: f64 = 64;
const PAGE_BYTES: f64 = 4096;
/** HZ of the oracle kernel: sleeps are whole jiffies of 4 ms. */
const JIFFY_MS: f64 = 4;
/** The simulated cost of a batch that does not sleep: per batch and per processed page (us). */
const BATCH_US: f64 = 10;
const PAGE_US: f64 = 2;

/**
 * memcmp() of two pages: each holds a 64-bit little-endian value repeated, so
 * they compare by the value's bytes from the least significant one up.
 */
// @ts-ignore: decorator
@inline export function memcmp_pages(a: u64, b: u64): i32 {
  if (a == b) return 0;
  const shift = ctz(a ^ b) & ~7;
  return ((a >> shift) & 0xff) < ((b >> shift) & 0xff) ? -1 : 1;
}

/** A low-32-bit page checksum (calc_checksum): any change of content changes it; 0 is not a value it takes. */
export function calc_checksum(content: u64): u32 {
  let x = content + 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  x ^= x >> 31;
  const c = <u32>x;
  return c == 0 ? 1 : c;
}

// ---- struct ksm_rmap_item: 40 bytes ---------------------------------------------------
// 0 head (its stable node) while STABLE, its unstable-tree node while
// UNSTABLE; 4/8 prev/next in the stable node's list of items; 12
// oldchecksum, 16 age u8, 17 remaining_skips u8, 18 flags u8, 19 seq u8 (low
// byte of seqnr when inserted in the unstable tree), 20 mm, 24 next in the
// slot's list, 32 address u64.
export const ITEM_SIZE: usize = 40;
// @ts-ignore: decorator
@inline function it_checksum(i: usize): u32 { return load<u32>(i, 12); }
// @ts-ignore: decorator
@inline function it_set_checksum(i: usize, c: u32): void { store<u32>(i, c, 12); }
// @ts-ignore: decorator
@inline function it_age(i: usize): u32 { return load<u8>(i, 16); }
// @ts-ignore: decorator
@inline function it_set_age(i: usize, a: u32): void { store<u8>(i, <u8>a, 16); }
// @ts-ignore: decorator
@inline function it_skips(i: usize): u32 { return load<u8>(i, 17); }
// @ts-ignore: decorator
@inline function it_set_skips(i: usize, a: u32): void { store<u8>(i, <u8>a, 17); }
// @ts-ignore: decorator
@inline function it_flags(i: usize): u32 { return load<u8>(i, 18); }
// @ts-ignore: decorator
@inline function it_set_flags(i: usize, f: u32): void { store<u8>(i, <u8>f, 18); }
// @ts-ignore: decorator
@inline function it_seq(i: usize): u32 { return load<u8>(i, 19); }
// @ts-ignore: decorator
@inline function it_set_seq(i: usize, s: u32): void { store<u8>(i, <u8>s, 19); }
// @ts-ignore: decorator
@inline function it_head(i: usize): usize { return load<u32>(i, 0); }
// @ts-ignore: decorator
@inline function it_set_head(i: usize, n: usize): void { store<u32>(i, <u32>n, 0); }
// @ts-ignore: decorator
@inline function it_unode(i: usize): usize { return load<u32>(i, 0); }
// @ts-ignore: decorator
@inline function it_set_unode(i: usize, n: usize): void { store<u32>(i, <u32>n, 0); }
// @ts-ignore: decorator
@inline function it_hprev(i: usize): usize { return load<u32>(i, 4); }
// @ts-ignore: decorator
@inline function it_set_hprev(i: usize, p: usize): void { store<u32>(i, <u32>p, 4); }
// @ts-ignore: decorator
@inline function it_hnext(i: usize): usize { return load<u32>(i, 8); }
// @ts-ignore: decorator
@inline function it_set_hnext(i: usize, p: usize): void { store<u32>(i, <u32>p, 8); }
// @ts-ignore: decorator
@inline function it_mm(i: usize): usize { return load<u32>(i, 20); }
/** The link to the slot's next item lives at item + IT_NEXT (a slot's first link at slot + SL_ITEMS). */
const IT_NEXT: usize = 24;
// @ts-ignore: decorator
@inline function it_next(i: usize): usize { return load<u32>(i, IT_NEXT); }
// @ts-ignore: decorator
@inline function it_address(i: usize): u64 { return load<u64>(i, 32); }

// ---- the unstable tree's nodes: 40 bytes, from a per-pass arena --------------------------
// The unstable tree is emptied at every pass start, so its nodes need not be
// the rmap_items themselves: each insertion takes a node from an arena that
// is reset with the tree (nodes of one pass lie together, in insertion
// order, and a walk never touches the scattered items). 0..15 the rb links,
// 16 the rmap_item, 20 its mm, 24 its address u64 (copies, for the walk), 32
// the page the item had when filed (a hint, checked against the page table
// before use). An UNSTABLE item filed this pass points at its node.
const UNODE_SIZE: usize = 40;
const ARENA_BYTES: usize = 65536;
/** First chunk, current chunk, and the offset of the next node in it; chunks link through their first word. */
let arenaFirst: usize = 0;
let arenaCur: usize = 0;
let arenaPos: usize = 0;
// @ts-ignore: decorator
@inline function un_item(u: usize): usize { return load<u32>(u, 16); }
// @ts-ignore: decorator
@inline function un_mm(u: usize): usize { return load<u32>(u, 20); }
// @ts-ignore: decorator
@inline function un_address(u: usize): u64 { return load<u64>(u, 24); }
// @ts-ignore: decorator
@inline function un_page_hint(u: usize): usize { return load<u32>(u, 32); }

/** Room for one more node this pass; false if memory is exhausted. */
function arena_reserve(): bool {
  if (arenaCur != 0 && arenaPos + UNODE_SIZE <= ARENA_BYTES) return true;
  if (arenaCur != 0 && load<u32>(arenaCur) != 0) return true;
  const c = block_alloc(pow2_class(ARENA_BYTES));
  if (c == 0) return false;
  if (arenaCur == 0) {
    arenaFirst = c;
    arenaCur = c;
    arenaPos = 8;
  } else {
    store<u32>(arenaCur, <u32>c);
  }
  return true;
}

/** A node for the unstable tree (reserved beforehand). */
function arena_alloc(): usize {
  if (arenaPos + UNODE_SIZE > ARENA_BYTES) {
    arenaCur = load<u32>(arenaCur);
    arenaPos = 8;
  }
  const u = arenaCur + arenaPos;
  arenaPos += UNODE_SIZE;
  return u;
}

/** The unstable tree is emptied: its nodes' room is reused. */
function arena_reset(): void {
  arenaCur = arenaFirst;
  arenaPos = 8;
}

// ---- struct ksm_stable_node: 64 bytes, one cache line -------------------------------------
// 0..15 rb links, 16 isChain u8, 17 stale u8 (its KSM page has no mapping
// left: set by pages.ts when the page's mapcount drops to 0), 20 page (0 for
// a chain), 24/28 items (head, count), 32/36 dups of a chain (head, count),
// 40 chain of a dup, 44/48 prev/next among the chain's dups, 56 the KSM
// page's content (immutable: a write to a KSM page copies it) or, for a
// chain, pruneTime f64 (its last prune, ms). A tree walk reads one record
// per level.
export const NODE_SIZE: usize = 64;
// @ts-ignore: decorator
@inline function nd_is_chain(n: usize): bool { return load<u8>(n, 16) != 0; }
// @ts-ignore: decorator
@inline function nd_content(n: usize): u64 { return load<u64>(n, 56); }
// @ts-ignore: decorator
@inline function nd_page(n: usize): usize { return load<u32>(n, 20); }
// @ts-ignore: decorator
@inline function nd_items(n: usize): usize { return load<u32>(n, 24); }
// @ts-ignore: decorator
@inline function nd_set_items(n: usize, i: usize): void { store<u32>(n, <u32>i, 24); }
// @ts-ignore: decorator
@inline function nd_item_count(n: usize): u32 { return load<u32>(n, 28); }
// @ts-ignore: decorator
@inline function nd_set_item_count(n: usize, c: u32): void { store<u32>(n, c, 28); }
// @ts-ignore: decorator
@inline function nd_dups(n: usize): usize { return load<u32>(n, 32); }
// @ts-ignore: decorator
@inline function nd_set_dups(n: usize, d: usize): void { store<u32>(n, <u32>d, 32); }
// @ts-ignore: decorator
@inline function nd_dup_count(n: usize): u32 { return load<u32>(n, 36); }
// @ts-ignore: decorator
@inline function nd_set_dup_count(n: usize, c: u32): void { store<u32>(n, c, 36); }
// @ts-ignore: decorator
@inline function nd_chain(n: usize): usize { return load<u32>(n, 40); }
// @ts-ignore: decorator
@inline function nd_set_chain(n: usize, c: usize): void { store<u32>(n, <u32>c, 40); }
// @ts-ignore: decorator
@inline function nd_dprev(n: usize): usize { return load<u32>(n, 44); }
// @ts-ignore: decorator
@inline function nd_set_dprev(n: usize, p: usize): void { store<u32>(n, <u32>p, 44); }
// @ts-ignore: decorator
@inline function nd_dnext(n: usize): usize { return load<u32>(n, 48); }
// @ts-ignore: decorator
@inline function nd_set_dnext(n: usize, p: usize): void { store<u32>(n, <u32>p, 48); }
// @ts-ignore: decorator
@inline function nd_prune_time(n: usize): f64 { return load<f64>(n, 56); }
// @ts-ignore: decorator
@inline function nd_set_prune_time(n: usize, t: f64): void { store<f64>(n, t, 56); }

// ---- struct ksm_mm_slot: 16 bytes -------------------------------------------------------
// 0 mm, 4 next, 8 prev, 12 the first link of its rmap_item list.
export const SLOT_SIZE: usize = 16;
const SL_ITEMS: usize = 12;
// @ts-ignore: decorator
@inline function sl_mm(s: usize): usize { return load<u32>(s, 0); }
// @ts-ignore: decorator
@inline function sl_next(s: usize): usize { return load<u32>(s, 4); }
// @ts-ignore: decorator
@inline function sl_set_next(s: usize, n: usize): void { store<u32>(s, <u32>n, 4); }
// @ts-ignore: decorator
@inline function sl_prev(s: usize): usize { return load<u32>(s, 8); }
// @ts-ignore: decorator
@inline function sl_set_prev(s: usize, p: usize): void { store<u32>(s, <u32>p, 8); }

// ---- the knobs of /sys/kernel/mm/ksm, as the reference keeps them (JS numbers) ----------
let kRun: f64 = 0;
let kPagesToScan: f64 = 100;
let kSleepMs: f64 = 20;
let kMaxPageSharing: f64 = 256;
let kUseZeroPages: f64 = 0;
let kSmartScan: f64 = 1;
let kMergeAcrossNodes: f64 = 1;
let kPruneMs: f64 = 2000;
let kAdvisorMode: f64 = 0;
let kAdvisorTargetScanTime: f64 = 200;
let kAdvisorMinPages: f64 = 500;
let kAdvisorMaxPages: f64 = 30000;
let kAdvisorMaxCpu: f64 = 70;

// ---- ksmd's state ---------------------------------------------------------------------
let slotHead: usize = 0;
let slotTail: usize = 0;
let slotCount: u32 = 0;
/** The scan cursor: slot (0: the list head, between passes), next page, the link to the next item. */
let curSlot: usize = 0;
let curAddr: u64 = 0;
let curLink: usize = 0;
let seqnr: i64 = 0;
const stableRoot = memory.data(4);
const unstableRoot = memory.data(4);
/** Simulated time (ms). */
let clock: f64 = 0;
/** ksmd's CPU time (ns, task_sched_runtime()): the batch cost model, whatever sleep_millisecs is. */
let runtime: u64 = 0;
let pagesShared: i64 = 0;
let pagesSharing: i64 = 0;
let pagesUnshared: i64 = 0;
let rmapItems: i64 = 0;
let chains: i64 = 0;
let dups: i64 = 0;
let pagesScanned: i64 = 0;
let pagesSkipped: i64 = 0;
let zeroPages: i64 = 0;
/** A scan stopped because memory for an rmap_item or a stable node could not be had. */
let outOfMemory = false;

/** The global ksm_zero_pages counter moves (pages.ts, fork.ts). */
export function ksm_zero_pages_add(delta: i64): void {
  zeroPages += delta;
}

// ---- registration ------------------------------------------------------------------------

/** Room for ksm_enter's slot; false if memory is exhausted. */
export function ksm_reserve_slot(): bool {
  return block_reserve(CLASS_SLOT, 1);
}

/** __ksm_enter(): add mm to ksmd's list, just before the cursor (at the tail when between passes). */
export function ksm_enter(mm: usize): void {
  if (mm_ksm_slot(mm) != 0) return;
  mm_set_ksm_registered(mm, true);
  const slot = block_alloc(CLASS_SLOT);
  if (slot == 0) abort("vmasim internal error: mm_slot not reserved");
  store<u32>(slot, <u32>mm, 0);
  mm_set_ksm_slot(mm, slot);
  slotCount++;
  if (curSlot == 0 || kRun == 2) {
    sl_set_prev(slot, slotTail);
    if (slotTail != 0) sl_set_next(slotTail, slot);
    else slotHead = slot;
    slotTail = slot;
  } else {
    const before = sl_prev(curSlot);
    sl_set_prev(slot, before);
    sl_set_next(slot, curSlot);
    sl_set_prev(curSlot, slot);
    if (before != 0) sl_set_next(before, slot);
    else slotHead = slot;
  }
}

/**
 * __ksm_exit(): the mm is exiting (called before exit_mmap). Its slot is
 * freed at once only when that is easy: ksmd's cursor is not on it and it
 * has no rmap_items. Otherwise it stays listed, moved just after the
 * cursor's slot (the front of the list between passes), and ksmd frees its
 * rmap_items when it next reaches it: the counters lag until then.
 */
export function __ksm_exit(mm: usize): void {
  const slot = mm_ksm_slot(mm);
  if (slot == 0 || slot == curSlot) return;
  if (load<u32>(slot + SL_ITEMS) == 0) {
    slot_remove(slot);
    return;
  }
  // list_move() after the cursor's slot (list_del, then insert).
  const p = sl_prev(slot);
  const n = sl_next(slot);
  if (p != 0) sl_set_next(p, n);
  else slotHead = n;
  if (n != 0) sl_set_prev(n, p);
  else slotTail = p;
  const after = curSlot == 0 ? slotHead : sl_next(curSlot);
  const before = curSlot;
  sl_set_prev(slot, before);
  sl_set_next(slot, after);
  if (before != 0) sl_set_next(before, slot);
  else slotHead = slot;
  if (after != 0) sl_set_prev(after, slot);
  else slotTail = slot;
}

function slot_remove(slot: usize): void {
  const p = sl_prev(slot);
  const n = sl_next(slot);
  if (p != 0) sl_set_next(p, n);
  else slotHead = n;
  if (n != 0) sl_set_prev(n, p);
  else slotTail = p;
  slotCount--;
  const mm = sl_mm(slot);
  mm_set_ksm_slot(mm, 0);
  mm_set_ksm_registered(mm, false);
  block_free(CLASS_SLOT, slot);
}

// ---- rmap items and the trees --------------------------------------------------------------

function item_free(item: usize): void {
  remove_rmap_item_from_tree(item);
  rmapItems--;
  const mm = it_mm(item);
  mm_set_ksm_rmap_items(mm, mm_ksm_rmap_items(mm) - 1);
  block_free(CLASS_ITEM, item);
}

/** Take item out of whichever tree holds it, with the counters (remove_rmap_item_from_tree()). */
function remove_rmap_item_from_tree(item: usize): void {
  const flags = it_flags(item);
  if ((flags & STABLE) != 0) {
    const node = it_head(item);
    if (is_stale(node)) {
      remove_node(node);
      return;
    }
    // hlist_del(): out of the node's items.
    const p = it_hprev(item);
    const n = it_hnext(item);
    if (p != 0) it_set_hnext(p, n);
    else nd_set_items(node, n);
    if (n != 0) it_set_hprev(n, p);
    const left = nd_item_count(node) - 1;
    nd_set_item_count(node, left);
    if (left > 0) pagesSharing--;
    else pagesShared--;
    const mm = it_mm(item);
    mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) - 1);
    it_set_head(item, 0);
    it_set_flags(item, 0);
  } else if ((flags & UNSTABLE) != 0) {
    // Inserted this pass: really in the tree. From an earlier pass: the tree was reset since.
    if (((<u32>seqnr - it_seq(item)) & 0xff) == 0) rb_erase(it_unode(item), unstableRoot);
    pagesUnshared--;
    it_set_unode(item, 0);
    it_set_flags(item, 0);
  }
}

/** A node is stale once its KSM page has no mapping left (freed): page.mapcount <= 0, flagged by ksm_page_unmapped. */
// @ts-ignore: decorator
@inline function is_stale(node: usize): bool {
  return load<u8>(node, 17) != 0;
}

/** The last mapping of node's KSM page went (pages.ts): the node is stale from now on (a page never gets mapped again). */
export function ksm_page_unmapped(node: usize): void {
  if (is_stale(node)) return;
  store<u8>(node, 1, 17);
  if (nd_chain(node) == 0) staleInTree++;
}

// ---- the stable tree's regular nodes by content ----------------------------------------------
// With no chain and no stale node in the stable tree, a walk has no side
// effects (nothing to prune, collapse or drop) and regular nodes have
// distinct contents, so stable_tree_search() is exactly a lookup of the
// content: an open-addressing table (content u64, node u32, pad) kept in
// step with the tree's regular nodes answers it in O(1). Otherwise the walk
// runs. If a table cannot be allocated, the walk always runs.
let memo: usize = 0;
let memoCap: u32 = 0;
let memoCount: u32 = 0;
let memoOk = true;
/** Regular nodes in the stable tree whose page has no mapping left. */
let staleInTree: i64 = 0;

// @ts-ignore: decorator
@inline function memo_slot(c: u64, mask: u32): u32 {
  return <u32>((c * 0x9e3779b97f4a7c15) >> 40) & mask;
}

/** The regular node of the stable tree holding content c, or 0. */
function memo_get(c: u64): usize {
  if (memoCount == 0) return 0;
  const mask = memoCap - 1;
  let i = memo_slot(c, mask);
  for (;;) {
    const e = memo + (<usize>i << 4);
    const n = <usize>load<u32>(e, 8);
    if (n == 0) return 0;
    if (load<u64>(e) == c) return n;
    i = (i + 1) & mask;
  }
  return 0;
}

function memo_put(c: u64, node: usize): void {
  const mask = memoCap - 1;
  let i = memo_slot(c, mask);
  while (load<u32>(memo + (<usize>i << 4), 8) != 0) i = (i + 1) & mask;
  const e = memo + (<usize>i << 4);
  store<u64>(e, c);
  store<u32>(e, <u32>node, 8);
}

/** node (a regular node) went into the stable tree. */
function memo_add(node: usize): void {
  if (!memoOk) return;
  if ((memoCount + 1) * 2 > memoCap) {
    const cap: u32 = memoCap == 0 ? 1024 : memoCap * 2;
    const t = cap <= 0x4000000 ? block_alloc(pow2_class(<usize>cap << 4)) : 0;
    if (t == 0) {
      // No room: walks from now on.
      if (memo != 0) block_free(pow2_class(<usize>memoCap << 4), memo);
      memo = 0;
      memoCap = 0;
      memoCount = 0;
      memoOk = false;
      return;
    }
    const old = memo;
    const oldCap = memoCap;
    memo = t;
    memoCap = cap;
    for (let i: u32 = 0; i < oldCap; i++) {
      const e = old + (<usize>i << 4);
      const n = <usize>load<u32>(e, 8);
      if (n != 0) memo_put(load<u64>(e), n);
    }
    if (old != 0) block_free(pow2_class(<usize>oldCap << 4), old);
  }
  memo_put(nd_content(node), node);
  memoCount++;
}

/** node (a regular node) left the stable tree (erased, or now a dup). */
function memo_remove(node: usize): void {
  if (!memoOk || memoCount == 0) return;
  const mask = memoCap - 1;
  let i = memo_slot(nd_content(node), mask);
  for (;;) {
    const n = <usize>load<u32>(memo + (<usize>i << 4), 8);
    if (n == 0) return;
    if (n == node) break;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion: later entries of the probe run move up into the hole.
  let hole = i;
  let j = (i + 1) & mask;
  for (;;) {
    const e = memo + (<usize>j << 4);
    const n = <usize>load<u32>(e, 8);
    if (n == 0) break;
    const home = memo_slot(load<u64>(e), mask);
    // Move the entry at j to the hole if its home is not within (hole, j].
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      memory.copy(memo + (<usize>hole << 4), e, 16);
      hole = j;
    }
    j = (j + 1) & mask;
  }
  store<u64>(memo + (<usize>hole << 4), 0);
  store<u32>(memo + (<usize>hole << 4), 0, 8);
  memoCount--;
}

/**
 * Drop a stale node (remove_node_from_stable_tree()): its last item counts
 * as shared, the others as sharing; the items become volatile. The node
 * record goes; its page is no longer a KSM page (and goes too, unmapped).
 */
function remove_node(node: usize): void {
  const count = nd_item_count(node);
  let it = nd_items(node);
  let i: u32 = 0;
  while (it != 0) {
    const next = it_hnext(it);
    if (i == count - 1) pagesShared--;
    else pagesSharing--;
    const mm = it_mm(it);
    mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) - 1);
    it_set_head(it, 0);
    it_set_flags(it, 0);
    it_set_hprev(it, 0);
    it_set_hnext(it, 0);
    it = next;
    i++;
  }
  nd_set_items(node, 0);
  nd_set_item_count(node, 0);
  const chain = nd_chain(node);
  if (chain != 0) {
    // stable_node_dup_del(): the chain stays, even if empty, until a walk meets it.
    dup_unlink(chain, node);
    dups--;
  } else {
    rb_erase(node, stableRoot);
    memo_remove(node);
    if (is_stale(node)) staleInTree--;
  }
  const page = nd_page(node);
  if (page != 0) {
    page_set_stable(page, 0);
    page_release(page);
  }
  block_free(CLASS_NODE, node);
}

/** Take dup out of chain's dups. */
function dup_unlink(chain: usize, dup: usize): void {
  const p = nd_dprev(dup);
  const n = nd_dnext(dup);
  if (p != 0) nd_set_dnext(p, n);
  else nd_set_dups(chain, n);
  if (n != 0) nd_set_dprev(n, p);
  nd_set_dup_count(chain, nd_dup_count(chain) - 1);
  nd_set_dprev(dup, 0);
  nd_set_dnext(dup, 0);
  nd_set_chain(dup, 0);
}

/** Put dup at the head of chain's dups. */
function dup_push(chain: usize, dup: usize): void {
  const h = nd_dups(chain);
  nd_set_dprev(dup, 0);
  nd_set_dnext(dup, h);
  if (h != 0) nd_set_dprev(h, dup);
  nd_set_dups(chain, dup);
  nd_set_dup_count(chain, nd_dup_count(chain) + 1);
  nd_set_chain(dup, chain);
}

/** ksm_get_folio(): the node's KSM page, or 0 after dropping the node if its page is gone. */
function get_page(node: usize): usize {
  if (is_stale(node)) {
    remove_node(node);
    return 0;
  }
  return nd_page(node);
}

/** A node can take one more mapping: 1 <= len < max_page_sharing (is_page_sharing_candidate()). */
// @ts-ignore: decorator
@inline function candidate(node: usize): bool {
  const n = nd_item_count(node);
  return n >= 1 && <f64>n < kMaxPageSharing;
}

/**
 * Pick the dup of a chain (stable_node_dup()): the first with room, or, when
 * pruning is due, the fullest with room after dropping the stale ones.
 * A chain left with one dup collapses into it (the dup takes the chain's
 * place in the tree, the chain record goes); returns the dup, or 0 if every
 * dup was stale.
 */
function stable_node_dup(chain: usize, mayPrune: bool): usize {
  const prune = mayPrune && clock >= nd_prune_time(chain) + kPruneMs;
  if (prune) nd_set_prune_time(chain, clock);
  // Before 6.11 (SW_KSM_DUP_CANDIDATES_ONLY): only dups with room are picked, and
  // the chain collapses only while pruning, when its one live dup was found.
  const legacy = sw(SW_KSM_DUP_CANDIDATES_ONLY);
  let found: usize = 0;
  let live = 0;
  let dup = nd_dups(chain);
  while (dup != 0) {
    const next = nd_dnext(dup);
    if (get_page(dup) != 0) {
      live++;
      const better = legacy
        ? candidate(dup) && (found == 0 || nd_item_count(dup) > nd_item_count(found))
        : found == 0 || (candidate(dup) && (!candidate(found) || nd_item_count(dup) > nd_item_count(found)));
      if (better) {
        found = dup;
        if (!prune && candidate(found)) break;
      }
    }
    dup = next;
  }
  if (found != 0) {
    if (legacy ? prune && live == 1 : nd_dup_count(chain) == 1) {
      dup_unlink(chain, found);
      rb_replace_node(chain, found, stableRoot);
      memo_add(found);
      chains--;
      dups--;
      block_free(CLASS_NODE, chain);
    } else if (nd_dups(chain) != found && <f64>(nd_item_count(found) + 1) < kMaxPageSharing) {
      dup_unlink(chain, found);
      dup_push(chain, found);
    }
  }
  return found;
}

// resolve()'s results.
let rHere: usize = 0;
let rDup: usize = 0;
let rContent: u64 = 0;

/**
 * Resolve a tree node to the node whose page a walk compares with
 * (__stable_node_chain() then stable_node_dup_any()): a regular node
 * itself, or a dup of a chain. Sets rHere (the node now at this tree
 * position), rDup (the dup usable for merging, or 0) and rContent (the
 * content of the page to compare), or returns false if the walk must
 * restart (a stale node or an empty chain was erased).
 */
// @ts-ignore: decorator
@inline function resolve(node: usize, mayPrune: bool): bool {
  // The common case first: a regular node whose page is mapped.
  if (!nd_is_chain(node) && !is_stale(node)) {
    rHere = node;
    rDup = candidate(node) ? node : 0;
    rContent = nd_content(node);
    return true;
  }
  return resolve_slow(node, mayPrune);
}

function resolve_slow(node: usize, mayPrune: bool): bool {
  let here = node;
  let dup: usize;
  if (!nd_is_chain(node)) {
    dup = candidate(node) ? node : 0;
  } else {
    dup = stable_node_dup(node, mayPrune);
    if (dup != 0 && nd_chain(dup) == 0) here = dup;
  }
  let any = dup;
  if (any == 0) {
    if (nd_is_chain(here)) {
      if (nd_dup_count(here) == 0) {
        rb_erase(here, stableRoot);
        chains--;
        block_free(CLASS_NODE, here);
        return false;
      }
      any = nd_dups(here);
    } else {
      any = here;
    }
  }
  if (get_page(any) == 0) return false;
  rHere = here;
  rDup = dup;
  rContent = nd_content(any);
  return true;
}

/** stable_tree_search(): a KSM page to merge page into, or 0. */
function stable_tree_search(page: usize): usize {
  // A KSM page (shared through fork) is its own match.
  if (page_stable(page) != 0) return page;
  const content = page_content(page);
  if (memoOk && chains == 0 && staleInTree == 0) {
    // The walk would be side-effect free: its result is the node of this content, if any.
    const n = memo_get(content);
    return n != 0 && candidate(n) ? nd_page(n) : 0;
  }
  for (;;) {
    let cur = rb_root_node(stableRoot);
    let restart = false;
    while (cur != 0) {
      if (!resolve(cur, true)) {
        restart = true;
        break;
      }
      const c = memcmp_pages(content, rContent);
      if (c < 0) cur = rb_left(rHere);
      else if (c > 0) cur = rb_right(rHere);
      else return rDup != 0 && candidate(rDup) ? nd_page(rDup) : 0;
    }
    if (!restart) return 0;
  }
  return 0;
}

/** stable_tree_insert(): file the new KSM page kpage, making or extending a chain if its content is there. */
function stable_tree_insert(kpage: usize): usize {
  const content = page_content(kpage);
  let parent: usize = 0;
  let left = false;
  let equal: usize = 0;
  for (;;) {
    parent = 0;
    equal = 0;
    let cur = rb_root_node(stableRoot);
    let restart = false;
    while (cur != 0) {
      if (!resolve(cur, false)) {
        restart = true;
        break;
      }
      const here = rHere;
      const c = memcmp_pages(content, rContent);
      parent = here;
      if (c < 0) {
        left = true;
        cur = rb_left(here);
      } else if (c > 0) {
        left = false;
        cur = rb_right(here);
      } else {
        equal = here;
        break;
      }
    }
    if (!restart) break;
  }
  const node = block_alloc(CLASS_NODE);
  if (node == 0) abort("vmasim internal error: stable node not reserved");
  store<u32>(node, <u32>kpage, 20);
  store<u64>(node, content, 56);
  if (equal == 0) {
    rb_link_node(node, parent, left, stableRoot);
    rb_insert_color(node, stableRoot);
    memo_add(node);
  } else {
    let chain = equal;
    if (!nd_is_chain(equal)) {
      // alloc_stable_node_chain(): the chain takes the node's place; the node becomes its first dup.
      chain = block_alloc(CLASS_NODE);
      if (chain == 0) abort("vmasim internal error: stable node not reserved");
      store<u8>(chain, 1, 16);
      nd_set_prune_time(chain, clock);
      rb_replace_node(equal, chain, stableRoot);
      memo_remove(equal);
      dup_push(chain, equal);
      dups++;
      chains++;
    }
    dup_push(chain, node);
    dups++;
  }
  page_set_stable(kpage, node);
  return node;
}

/** stable_tree_append(): item now maps node's KSM page. */
function stable_tree_append(item: usize, node: usize): void {
  const n = nd_item_count(node);
  if (n > 0) pagesSharing++;
  else pagesShared++;
  const h = nd_items(node);
  it_set_hprev(item, 0);
  it_set_hnext(item, h);
  if (h != 0) it_set_hprev(h, item);
  nd_set_items(node, item);
  nd_set_item_count(node, n + 1);
  it_set_head(item, node);
  it_set_flags(item, STABLE);
  const mm = it_mm(item);
  mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) + 1);
}

/** Point item's page table entry at kpage instead of page (replace_page()). */
function replace_page(item: usize, page: usize, kpage: usize): void {
  if (page == kpage) return;
  page_unmap(page);
  page_set_mapcount(kpage, page_mapcount(kpage) + 1);
  pt_replace(it_mm(item), it_address(item), kpage);
}

/** The anonymous page an item's address (in mm) maps now, if its VMA is still mergeable with an anon_vma. */
function item_page(mm: usize, address: u64): usize {
  const v = tree_lookup(mm, address);
  if (v == 0 || (vma_flags(v) & VM_MERGEABLE) == 0 || vma_anon(v) == 0) return 0;
  const page = pt_get(mm, address);
  return page == KSM_ZERO_PAGE ? 0 : page;
}

/** The partner's page found by unstable_search_insert. */
let partnerPage: usize = 0;

/** unstable_tree_search_insert(): a partner of equal content (its page in partnerPage), or 0 after filing item. */
function unstable_search_insert(item: usize, page: usize): usize {
  const content = page_content(page);
  let parent: usize = 0;
  let left = false;
  let cur = rb_root_node(unstableRoot);
  while (cur != 0) {
    // The content of the page cur had when filed, loaded early (it overlaps the page table lookup); used if still mapped there.
    const hint = un_page_hint(cur);
    const hinted = load<u64>(hint);
    const tPage = item_page(un_mm(cur), un_address(cur));
    // The partner's page is gone: give up without filing item (it stays volatile).
    if (tPage == 0) return 0;
    // The very same page (shared through fork) is never merged with itself.
    if (tPage == page) return 0;
    const c = memcmp_pages(content, tPage == hint ? hinted : page_content(tPage));
    parent = cur;
    if (c < 0) {
      left = true;
      cur = rb_left(cur);
    } else if (c > 0) {
      left = false;
      cur = rb_right(cur);
    } else {
      partnerPage = tPage;
      return un_item(cur);
    }
  }
  const u = arena_alloc();
  store<u32>(u, <u32>item, 16);
  store<u32>(u, <u32>it_mm(item), 20);
  store<u64>(u, it_address(item), 24);
  store<u32>(u, <u32>page, 32);
  rb_link_node(u, parent, left, unstableRoot);
  rb_insert_color(u, unstableRoot);
  it_set_unode(item, u);
  it_set_flags(item, UNSTABLE);
  it_set_seq(item, <u32>seqnr & 0xff);
  pagesUnshared++;
  return 0;
}

/** With use_zero_pages, a zero-filled page is replaced by the zero page (try_to_merge_one_page + ZERO). */
function try_zero_page_merge(item: usize, page: usize): bool {
  if (kUseZeroPages == 0 || page_content(page) != 0) return false;
  page_unmap(page);
  const mm = it_mm(item);
  pt_replace(mm, it_address(item), KSM_ZERO_PAGE);
  mm_set_ksm_zero_pages(mm, mm_ksm_zero_pages(mm) + 1);
  zeroPages++;
  return true;
}

/** The heart of ksmd: one processed visit of item's page (cmp_and_merge_page()). */
function cmp_and_merge_page(page: usize, item: usize): void {
  const node = page_stable(page);
  if (node != 0) {
    if (!is_stale(node) && it_head(item) == node) return;
  } else {
    remove_rmap_item_from_tree(item);
    const c = calc_checksum(page_content(page));
    if (c != it_checksum(item)) {
      it_set_checksum(item, c);
      return;
    }
    if (try_zero_page_merge(item, page)) return;
  }
  const kpage = stable_tree_search(page);
  if (kpage == page && it_head(item) == node && node != 0) return;
  remove_rmap_item_from_tree(item);
  if (kpage != 0) {
    replace_page(item, page, kpage);
    stable_tree_append(item, page_stable(kpage));
    return;
  }
  const tItem = unstable_search_insert(item, page);
  if (tItem != 0) {
    const tPage = partnerPage;
    // merge_two_pages(): page becomes the KSM page, the partner maps it too.
    remove_rmap_item_from_tree(tItem);
    replace_page(tItem, tPage, page);
    const n = stable_tree_insert(page);
    stable_tree_append(tItem, n);
    stable_tree_append(item, n);
  }
}

// ---- the scan --------------------------------------------------------------------------------

/** Smart scan: skip pages that did not merge for a while (should_skip_rmap_item()). */
function should_skip(page: usize, item: usize): bool {
  // Before 6.7 (SW_KSM_SMART_SCAN off) there is no smart scan: nothing is skipped.
  if (!sw(SW_KSM_SMART_SCAN) || kSmartScan == 0 || page_stable(page) != 0) return false;
  const age = it_age(item);
  if (age < 255) it_set_age(item, age + 1);
  if (age < 3) return false;
  const skips = it_skips(item);
  if (skips == 0) {
    it_set_skips(item, age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8);
    return false;
  }
  it_set_skips(item, skips - 1);
  pagesSkipped++;
  remove_rmap_item_from_tree(item);
  return true;
}

/** The item for address in slot at the cursor, freeing the ones before it (get_next_rmap_item()). */
function get_next_rmap_item(mm: usize, address: u64): usize {
  const link = curLink;
  let at = <usize>load<u32>(link);
  while (at != 0 && it_address(at) < address) {
    store<u32>(link, load<u32>(at, IT_NEXT));
    item_free(at);
    at = <usize>load<u32>(link);
  }
  if (at != 0 && it_address(at) == address) return at;
  const item = block_alloc(CLASS_ITEM);
  if (item == 0) abort("vmasim internal error: rmap_item not reserved");
  store<u32>(item, <u32>mm, 20);
  store<u64>(item, address, 32);
  store<u32>(item, <u32>at, IT_NEXT);
  store<u32>(link, <u32>item);
  rmapItems++;
  mm_set_ksm_rmap_items(mm, mm_ksm_rmap_items(mm) + 1);
  return item;
}

/** The page of the item scan_get_next_rmap_item returned. */
let scanPage: usize = 0;
/** The VMA of the last page (scanLast) scan_mm returned, in scanMm, while the VMA trees were at scanGen. */
let scanVma: usize = 0;
let scanMm: usize = 0;
let scanGen: u32 = 0;
let scanLast: u64 = 0;

/** The next page of mm to process at or after the cursor (its item; its page in scanPage), advancing the cursor; 0 at the end. */
function scan_mm(mm: usize): usize {
  // find_vma(curAddr): the last page's VMA while no tree changed and the cursor is after that page and below the VMA's end.
  const same = mm == scanMm && treeGen == scanGen && curAddr > scanLast && curAddr < vma_end(scanVma);
  let v = same ? scanVma : tree_find(mm, curAddr);
  for (; v != 0; v = tree_next(mm, v)) {
    const f = vma_flags(v);
    if ((f & VM_MERGEABLE) == 0) continue;
    if (curAddr < vma_start(v)) curAddr = vma_start(v);
    const end = vma_end(v);
    if (vma_anon(v) == 0) {
      curAddr = end;
      continue;
    }
    let at = curAddr;
    for (;;) {
      const address = pt_next(mm, at, end);
      if (address == NO_PAGE) break;
      const page = ptPage;
      at = address + 1;
      if (page == KSM_ZERO_PAGE) continue;
      curAddr = address;
      const item = get_next_rmap_item(mm, address);
      curLink = item + IT_NEXT;
      curAddr = address + 1;
      if (should_skip(page, item)) continue;
      scanPage = page;
      scanVma = v;
      scanMm = mm;
      scanGen = treeGen;
      scanLast = address;
      return item;
    }
    curAddr = end;
  }
  return 0;
}

/** The next page to process (its item; the page in scanPage), or 0 at the end of a pass (scan_get_next_rmap_item()). */
function scan_get_next_rmap_item(): usize {
  if (slotCount == 0) return 0;
  if (curSlot == 0) {
    // A new pass: the advisor notes its start; the unstable tree starts empty; old items keep their flag.
    advisor_start_scan(kAdvisorMode, clock);
    store<u32>(unstableRoot, 0);
    arena_reset();
    curSlot = slotHead;
    curAddr = 0;
    curLink = curSlot + SL_ITEMS;
  }
  while (curSlot != 0) {
    const slot = curSlot;
    const mm = sl_mm(slot);
    // ksm_test_exit(): an exiting mm has no VMAs to scan; the cursor goes back to its
    // first rmap_item so that all of them are freed below and the slot with them (no_vmas).
    const exiting = mm_exited(mm);
    const found: usize = exiting ? 0 : scan_mm(mm);
    if (found != 0) return found;
    if (exiting) {
      curAddr = 0;
      curLink = slot + SL_ITEMS;
    }
    // End of this mm: free the items beyond the cursor.
    let it = <usize>load<u32>(curLink);
    store<u32>(curLink, 0);
    while (it != 0) {
      const next = it_next(it);
      item_free(it);
      it = next;
    }
    curSlot = sl_next(slot);
    if (curAddr == 0) slot_remove(slot);
    curAddr = 0;
    curLink = curSlot + SL_ITEMS;
  }
  kPagesToScan = advisor_stop_scan(
    kAdvisorMode, clock, runtime, kPagesToScan, kAdvisorTargetScanTime, kAdvisorMaxCpu, kAdvisorMaxPages,
  );
  seqnr++;
  return 0;
}

/** Room for one visit: an rmap_item, the two stable nodes a merge can make, an unstable-tree node. */
// @ts-ignore: decorator
@inline function reserve_visit(): bool {
  return block_reserve(CLASS_ITEM, 1) && block_reserve(CLASS_NODE, 2) && arena_reserve();
}

/**
 * One batch of at most pages_to_scan processed pages; stops at the end of a
 * pass (ksm_do_scan()), or between two visits if memory runs out
 * (outOfMemory). Returns the pages processed.
 */
function ksm_do_scan(): f64 {
  let done: f64 = 0;
  for (let n = kPagesToScan; n > 0; n--) {
    if (!reserve_visit()) {
      outOfMemory = true;
      break;
    }
    const item = scan_get_next_rmap_item();
    if (item == 0) break;
    cmp_and_merge_page(scanPage, item);
    pagesScanned++;
    done++;
  }
  return done;
}

/** ksmd has work: run = 1 and some mm registered (ksmd_should_run()). */
function should_run(): bool {
  return (<i32>kRun & 1) == 1 && slotCount > 0;
}

/**
 * Simulated time from one batch to the next: the sleep in whole jiffies
 * (msecs_to_jiffies rounds up). With sleep_millisecs=0 ksmd never sleeps;
 * the batch itself is then charged 10 us plus 2 us per processed page.
 */
function batch_ms(processed: f64): f64 {
  if (kSleepMs == 0) return BATCH_US / 1000 + (processed * PAGE_US) / 1000;
  return Math.ceil(kSleepMs / JIFFY_MS) * JIFFY_MS;
}

/**
 * One turn of ksm_scan_thread(): a batch, its CPU cost added to ksmd's
 * runtime (10 us plus 2 us per processed page, always), then the time until
 * the next batch on the clock.
 */
function ksm_scan_thread_turn(): void {
  const processed = ksm_do_scan();
  runtime += <u64>(BATCH_US * 1000 + processed * PAGE_US * 1000);
  clock += batch_ms(processed);
}

/** Run ksmd until n more passes are complete: 0, -1 if it cannot (stopped or nothing to scan), -ENOMEM. */
export function scan_passes(n: f64): f64 {
  const target = <f64>seqnr + n;
  outOfMemory = false;
  while (<f64>seqnr < target) {
    if (!should_run() || kPagesToScan == 0) return -1;
    ksm_scan_thread_turn();
    if (outOfMemory) return -<f64>ENOMEM;
  }
  return 0;
}

/** Run ksmd for ms of simulated time (an idle ksmd just lets the time pass): 0 or -ENOMEM. */
export function run_for(ms: f64): f64 {
  const end = clock + ms;
  outOfMemory = false;
  while (clock < end) {
    if (!should_run() || kPagesToScan == 0) {
      clock = end;
      return 0;
    }
    ksm_scan_thread_turn();
    if (outOfMemory) return -<f64>ENOMEM;
  }
  return 0;
}

// ---- unmerging ---------------------------------------------------------------------------------

/** The pages unmerge_all may make (KSM pages and zero pages mapped in registered mms). */
function unmerge_all_pages(): u64 {
  let n: u64 = 0;
  for (let s = slotHead; s != 0; s = sl_next(s)) {
    const mm = sl_mm(s);
    if (mm_page_count(mm) != 0) n += pt_count_ksm(mm, 0, u64.MAX_VALUE);
  }
  return n;
}

/** run = 2: unshare every KSM page in mergeable VMAs, free every item, drop unmapped nodes (unmerge_and_remove_all_rmap_items()). */
function unmerge_all(): void {
  for (let s = slotHead; s != 0; s = sl_next(s)) {
    const mm = sl_mm(s);
    for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
      if ((vma_flags(v) & VM_MERGEABLE) != 0) unshare_ksm_range(mm, vma_start(v), vma_end(v));
    }
    let it = <usize>load<u32>(s + SL_ITEMS);
    store<u32>(s + SL_ITEMS, 0);
    while (it != 0) {
      const next = it_next(it);
      item_free(it);
      it = next;
    }
  }
  // An exiting mm's slot goes with its items (ksm_test_exit() in the same loop).
  let s = slotHead;
  while (s != 0) {
    const next = sl_next(s);
    if (mm_exited(sl_mm(s))) slot_remove(s);
    s = next;
  }
  // remove_all_stable_nodes(): drop every node whose page is no longer mapped (in tree order).
  let n = rb_first(stableRoot);
  while (n != 0) {
    const next = rb_next(n);
    if (nd_is_chain(n)) {
      let d = nd_dups(n);
      while (d != 0) {
        const dn = nd_dnext(d);
        if (is_stale(d)) remove_node(d);
        d = dn;
      }
      if (nd_dup_count(n) == 0) {
        rb_erase(n, stableRoot);
        chains--;
        block_free(CLASS_NODE, n);
      }
    } else if (is_stale(n)) {
      remove_node(n);
    }
    n = next;
  }
  curSlot = 0;
  seqnr = 0;
}

// ---- knobs ---------------------------------------------------------------------------------------

/** Room for what a knob write may allocate (run=2 unshares); false if memory is exhausted. */
export function ksm_write_pages_needed(knob: i32, u: f64): u64 {
  return knob == <i32>KNOB_RUN && u == 2 && kRun != 2 ? unmerge_all_pages() : 0;
}

/** max_page_sharing may change only with no KSM page mapped and every node droppable; drops them all. */
function stable_nodes_droppable(): bool {
  if (pagesShared > 0) return false;
  for (let n = rb_first(stableRoot); n != 0; n = rb_next(n)) {
    if (nd_is_chain(n)) {
      for (let d = nd_dups(n); d != 0; d = nd_dnext(d)) if (!is_stale(d)) return false;
    } else if (!is_stale(n)) {
      return false;
    }
  }
  let n = rb_first(stableRoot);
  while (n != 0) {
    const next = rb_next(n);
    if (nd_is_chain(n)) {
      let d = nd_dups(n);
      while (d != 0) {
        const dn = nd_dnext(d);
        remove_node(d);
        d = dn;
      }
      rb_erase(n, stableRoot);
      chains--;
      block_free(CLASS_NODE, n);
    } else {
      remove_node(n);
    }
    n = next;
  }
  return true;
}

/** Whether the knob's file exists: smart_scan from 6.7 (SW_KSM_SMART_SCAN), advisor_* from 6.9 (SW_KSM_ADVISOR). */
function ksm_knob_exists(knob: i32): bool {
  if (knob == <i32>KNOB_SMART_SCAN) return sw(SW_KSM_SMART_SCAN);
  if (knob >= <i32>KNOB_ADVISOR_MODE && knob <= <i32>KNOB_ADVISOR_MAX_CPU) return sw(SW_KSM_ADVISOR);
  return true;
}

/**
 * A write to /sys/kernel/mm/ksm/<KSM_KNOB_NAMES[knob]> (each store function's
 * refusals and effects), the value as kstrto.ts's parsers read it (NaN or -1
 * where a parser refuses it); 0 or -errno.
 */
export function write_knob(knob: i32, u: f64, i: f64, b: f64, mode: f64): i32 {
  if (!ksm_knob_exists(knob)) return -<i32>ENOENT;
  const uint = u;
  switch (knob) {
    case KNOB_RUN: {
      if (isNaN(uint) || uint > 2) return -<i32>EINVAL;
      if (uint == kRun) return 0;
      kRun = uint;
      if (uint == 2) unmerge_all();
      return 0;
    }
    case KNOB_PAGES_TO_SCAN:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      if (kAdvisorMode != 0) return -<i32>EINVAL;
      kPagesToScan = uint;
      return 0;
    case KNOB_SLEEP_MILLISECS:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      kSleepMs = uint;
      return 0;
    case KNOB_STABLE_NODE_CHAINS_PRUNE_MILLISECS:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      kPruneMs = uint;
      return 0;
    case KNOB_MAX_PAGE_SHARING:
      if (isNaN(i) || i < 2) return -<i32>EINVAL;
      if (i == kMaxPageSharing) return 0;
      if (!stable_nodes_droppable()) return -<i32>EBUSY;
      kMaxPageSharing = i;
      return 0;
    case KNOB_MERGE_ACROSS_NODES:
      if (isNaN(uint) || uint > 1) return -<i32>EINVAL;
      if (uint == kMergeAcrossNodes) return 0;
      if (!stable_nodes_droppable()) return -<i32>EBUSY;
      kMergeAcrossNodes = uint;
      return 0;
    case KNOB_USE_ZERO_PAGES:
      if (b < 0) return -<i32>EINVAL;
      kUseZeroPages = b;
      return 0;
    case KNOB_SMART_SCAN:
      if (b < 0) return -<i32>EINVAL;
      kSmartScan = b;
      return 0;
    case KNOB_ADVISOR_MODE:
      if (mode < 0) return -<i32>EINVAL;
      if (mode != kAdvisorMode) {
        kAdvisorMode = mode;
        kPagesToScan = set_advisor_defaults(kAdvisorMode, kAdvisorMinPages);
      }
      return 0;
    case KNOB_ADVISOR_TARGET_SCAN_TIME:
      if (isNaN(uint) || uint < 1) return -<i32>EINVAL;
      kAdvisorTargetScanTime = uint;
      return 0;
    case KNOB_ADVISOR_MIN_PAGES_TO_SCAN:
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMinPages = uint;
      return 0;
    case KNOB_ADVISOR_MAX_PAGES_TO_SCAN:
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMaxPages = uint;
      return 0;
    case KNOB_ADVISOR_MAX_CPU:
      // kstrtoul() into an unsigned int: the low 32 bits stay.
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMaxCpu = <f64><u32>knob_u64(uint);
      return 0;
  }
  return -<i32>EINVAL;
}

// ---- reports -------------------------------------------------------------------------------------

/** The knobs' values into out (13 f64, in KSM_KNOB_NAMES order): what reading /sys/kernel/mm/ksm/KEY shows. */
export function knob_values(out: usize): void {
  store<f64>(out, kRun, 0);
  store<f64>(out, kPagesToScan, 8);
  store<f64>(out, kSleepMs, 16);
  store<f64>(out, kMaxPageSharing, 24);
  store<f64>(out, kUseZeroPages, 32);
  store<f64>(out, kSmartScan, 40);
  store<f64>(out, kMergeAcrossNodes, 48);
  store<f64>(out, kPruneMs, 56);
  store<f64>(out, kAdvisorMode, 64);
  store<f64>(out, kAdvisorTargetScanTime, 72);
  store<f64>(out, kAdvisorMinPages, 80);
  store<f64>(out, kAdvisorMaxPages, 88);
  store<f64>(out, kAdvisorMaxCpu, 96);
}

/** /proc/PID/ksm_stat values into out (6 f64): rmap_items, zero_pages, merging_pages, process_profit, merge_any, mergeable. */
export function proc_ksm_stat(mm: usize, out: usize): void {
  const items = <f64>mm_ksm_rmap_items(mm);
  const zero = <f64>mm_ksm_zero_pages(mm);
  const merging = <f64>mm_ksm_merging_pages(mm);
  let mergeable = false;
  for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
    if ((vma_flags(v) & VM_MERGEABLE) != 0) {
      mergeable = true;
      break;
    }
  }
  store<f64>(out, items, 0);
  store<f64>(out, zero, 8);
  store<f64>(out, merging, 16);
  store<f64>(out, (merging + zero) * PAGE_BYTES - items * RMAP_ITEM_BYTES, 24);
  store<f64>(out, mm_merge_any(mm) ? 1 : 0, 32);
  store<f64>(out, mergeable ? 1 : 0, 40);
}

/**
 * The global counters into out (12 f64): shared, sharing, unshared, volatile,
 * chains, dups, zero pages, profit, full scans, scanned, skipped, clock.
 */
export function global_stat(out: usize): void {
  const vol = rmapItems - pagesShared - pagesSharing - pagesUnshared;
  store<f64>(out, <f64>pagesShared, 0);
  store<f64>(out, <f64>pagesSharing, 8);
  store<f64>(out, <f64>pagesUnshared, 16);
  store<f64>(out, vol > 0 ? <f64>vol : 0, 24);
  store<f64>(out, <f64>chains, 32);
  store<f64>(out, <f64>dups, 40);
  store<f64>(out, <f64>zeroPages, 48);
  store<f64>(out, (<f64>pagesSharing + <f64>zeroPages) * PAGE_BYTES - <f64>rmapItems * RMAP_ITEM_BYTES, 56);
  store<f64>(out, <f64>seqnr, 64);
  store<f64>(out, <f64>pagesScanned, 72);
  store<f64>(out, <f64>pagesSkipped, 80);
  store<f64>(out, clock, 88);
}
