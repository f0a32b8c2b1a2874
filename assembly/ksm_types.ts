// The records of KSM, mirroring bindings/reference/ksm_types.ts (after
// mm/ksm.c): struct ksm_rmap_item, the unstable tree's nodes, struct
// ksm_stable_node and struct ksm_mm_slot, laid out by hand in linear memory
// with an accessor per field, and the page comparison and checksum both
// trees and the scan use.

import { rb_insert_color, rb_left, rb_link_node, rb_right, rb_root_node } from "./rbtree";
import { block_alloc, pow2_class } from "./alloc";

export const UNSTABLE: u32 = 1;
export const STABLE: u32 = 2;
/** sizeof(struct ksm_rmap_item) on x86-64: what the profit formulas charge per item. */
export const RMAP_ITEM_BYTES: f64 = 64;
export const PAGE_BYTES: f64 = 4096;
/** HZ of the oracle kernel: sleeps are whole jiffies of 4 ms. */
export const JIFFY_MS: f64 = 4;
/** The simulated cost of a batch that does not sleep: per batch and per processed page (us). */
export const BATCH_US: f64 = 10;
export const PAGE_US: f64 = 2;

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

/**
 * Link node into the red-black tree at root by the content at node + off,
 * as an insert walk does on distinct contents (left when smaller): the
 * replays that build a tree from its logged inserts (ksm_stable.ts,
 * ksm_unstable.ts).
 */
export function rb_link_by_content(root: usize, node: usize, off: usize): void {
  const content = load<u64>(node + off);
  let parent: usize = 0;
  let left = false;
  let cur = rb_root_node(root);
  while (cur != 0) {
    parent = cur;
    left = memcmp_pages(content, load<u64>(cur + off)) < 0;
    cur = left ? rb_left(cur) : rb_right(cur);
  }
  rb_link_node(node, parent, left, root);
  rb_insert_color(node, root);
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

// ---- struct ksm_rmap_item: 32 bytes ---------------------------------------------------
// 0 head (its stable node) while STABLE, its unstable-tree node while
// UNSTABLE; 4 its link record in that stable node's list of items (0:
// none); 8 oldchecksum, 12 age u8, 13 remaining_skips u8, 14 flags u8, 15
// seq u8 (low byte of seqnr when inserted in the unstable tree), 16 mm, 20
// next in the slot's list, 24 address u64. Two items to a cache line.
export const ITEM_SIZE: usize = 32;
// @ts-ignore: decorator
@inline export function it_checksum(i: usize): u32 { return load<u32>(i, 8); }
// @ts-ignore: decorator
@inline export function it_set_checksum(i: usize, c: u32): void { store<u32>(i, c, 8); }
// @ts-ignore: decorator
@inline export function it_age(i: usize): u32 { return load<u8>(i, 12); }
// @ts-ignore: decorator
@inline export function it_set_age(i: usize, a: u32): void { store<u8>(i, <u8>a, 12); }
// @ts-ignore: decorator
@inline export function it_skips(i: usize): u32 { return load<u8>(i, 13); }
// @ts-ignore: decorator
@inline export function it_set_skips(i: usize, a: u32): void { store<u8>(i, <u8>a, 13); }
// @ts-ignore: decorator
@inline export function it_flags(i: usize): u32 { return load<u8>(i, 14); }
// @ts-ignore: decorator
@inline export function it_set_flags(i: usize, f: u32): void { store<u8>(i, <u8>f, 14); }
// @ts-ignore: decorator
@inline export function it_seq(i: usize): u32 { return load<u8>(i, 15); }
// @ts-ignore: decorator
@inline export function it_set_seq(i: usize, s: u32): void { store<u8>(i, <u8>s, 15); }
// @ts-ignore: decorator
@inline export function it_head(i: usize): usize { return load<u32>(i, 0); }
// @ts-ignore: decorator
@inline export function it_set_head(i: usize, n: usize): void { store<u32>(i, <u32>n, 0); }
// @ts-ignore: decorator
@inline export function it_unode(i: usize): usize { return load<u32>(i, 0); }
// @ts-ignore: decorator
@inline export function it_set_unode(i: usize, n: usize): void { store<u32>(i, <u32>n, 0); }
// @ts-ignore: decorator
@inline export function it_link(i: usize): usize { return load<u32>(i, 4); }
// @ts-ignore: decorator
@inline export function it_set_link(i: usize, l: usize): void { store<u32>(i, <u32>l, 4); }
// @ts-ignore: decorator
@inline export function it_mm(i: usize): usize { return load<u32>(i, 16); }
// @ts-ignore: decorator
@inline export function it_set_mm(i: usize, mm: usize): void { store<u32>(i, <u32>mm, 16); }
/** The link to the slot's next item lives at item + IT_NEXT (a slot's first link at slot + SL_ITEMS). */
export const IT_NEXT: usize = 20;
// @ts-ignore: decorator
@inline export function it_next(i: usize): usize { return load<u32>(i, IT_NEXT); }
// @ts-ignore: decorator
@inline export function it_address(i: usize): u64 { return load<u64>(i, 24); }
// @ts-ignore: decorator
@inline export function it_set_address(i: usize, a: u64): void { store<u64>(i, a, 24); }

// ---- a stable node's list of items: link records of 16 bytes ------------------------------
// 0 the item, 4 the next link, 8..15 unused: a page record's size, whose
// allocation class links share (alloc.ts). The kernel's hlist of rmap_items threads
// the items themselves; here a link record stands for one membership, so
// that joining a node writes only the new link and the node (not the
// previous head item, far away in memory), and leaving one writes only the
// item (its link becomes 0). A link is current while its item's link field
// names it; the others are dead, dropped when the node's list is next
// walked (ksm_stable.ts). No result depends on the list's order.
/** The bytes a link uses (at most a page record's: checked at init). */
export const LINK_BYTES: usize = 8;
// @ts-ignore: decorator
@inline export function ln_item(l: usize): usize { return load<u32>(l, 0); }
// @ts-ignore: decorator
@inline export function ln_set_item(l: usize, i: usize): void { store<u32>(l, <u32>i, 0); }
// @ts-ignore: decorator
@inline export function ln_next(l: usize): usize { return load<u32>(l, LN_NEXT); }
// @ts-ignore: decorator
@inline export function ln_set_next(l: usize, n: usize): void { store<u32>(l, <u32>n, LN_NEXT); }
export const LN_NEXT: usize = 4;

// ---- the unstable tree's nodes: 32 bytes, from a per-pass arena --------------------------
// The unstable tree is emptied at every pass start, so its nodes need not be
// the rmap_items themselves: each insertion takes a node from an arena that
// is reset with the tree (nodes of one pass lie together, in insertion
// order, two to a cache line, and a walk never touches the scattered
// items). 0..15 the rb links, 16 the rmap_item, 20 the page the item had
// when filed and 24 that page's content then (what a walk compares while
// nothing has changed since the pass began: ksmd.ts). An UNSTABLE item
// filed this pass points at its node.
const UNODE_SIZE: usize = 32;
const ARENA_BYTES: usize = 65536;
/** First chunk, current chunk, and the offset of the next node in it; chunks link through their first word. */
let arenaFirst: usize = 0;
let arenaCur: usize = 0;
let arenaPos: usize = 0;
// @ts-ignore: decorator
@inline export function un_item(u: usize): usize { return load<u32>(u, 16); }
// @ts-ignore: decorator
@inline export function un_page(u: usize): usize { return load<u32>(u, 20); }
// @ts-ignore: decorator
@inline export function un_content(u: usize): u64 { return load<u64>(u, UN_CONTENT); }
export const UN_CONTENT: usize = 24;

/** Where a chunk's first node goes: after its link word, on a 32-byte boundary (a node never straddles two lines). */
// @ts-ignore: decorator
@inline function arena_first(chunk: usize): usize {
  return ((chunk + 4 + UNODE_SIZE - 1) & ~(UNODE_SIZE - 1)) - chunk;
}

/** Room for n (at most a chunk's worth) more nodes without allocating: the current chunk's rest, and the next chunk if needed. */
export function arena_reserve_n(n: u32): bool {
  if (arenaCur != 0 && arenaPos + <usize>n * UNODE_SIZE <= ARENA_BYTES) return true;
  if (arenaCur != 0 && load<u32>(arenaCur) != 0) return true;
  const c = block_alloc(pow2_class(ARENA_BYTES));
  if (c == 0) return false;
  if (arenaCur == 0) {
    arenaFirst = c;
    arenaCur = c;
    arenaPos = arena_first(c);
  } else {
    store<u32>(arenaCur, <u32>c);
  }
  return true;
}

/** A node for the unstable tree (reserved beforehand). */
export function arena_alloc(): usize {
  if (arenaPos + UNODE_SIZE > ARENA_BYTES) {
    arenaCur = load<u32>(arenaCur);
    arenaPos = arena_first(arenaCur);
  }
  const u = arenaCur + arenaPos;
  arenaPos += UNODE_SIZE;
  return u;
}

/** Where arena_next() starts: the pass's first node. */
let iterCur: usize = 0;
let iterPos: usize = 0;
export function arena_iter_start(): void {
  iterCur = arenaFirst;
  iterPos = arenaFirst == 0 ? 0 : arena_first(arenaFirst);
}

/** The next node of this pass in allocation order (the caller counts how many there are). */
export function arena_next(): usize {
  if (iterPos + UNODE_SIZE > ARENA_BYTES) {
    iterCur = load<u32>(iterCur);
    iterPos = arena_first(iterCur);
  }
  const u = iterCur + iterPos;
  iterPos += UNODE_SIZE;
  return u;
}

/** The unstable tree is emptied: its nodes' room is reused. */
export function arena_reset(): void {
  arenaCur = arenaFirst;
  arenaPos = arenaFirst == 0 ? 0 : arena_first(arenaFirst);
}

// ---- struct ksm_stable_node: 64 bytes, one cache line -------------------------------------
// 0..15 rb links, 16 isChain u8, 17 stale u8 (its KSM page has no mapping
// left: set by pages.ts when the page's mapcount drops to 0), 20 page (0 for
// a chain), 24/28 items (the first link, the count of items in the node),
// 32/36 dups of a chain (head, count), 40 chain of a dup, 44/48 prev/next
// among the chain's dups, 52 links in the items' list (current or dead), 56 the KSM
// page's content (immutable: a write to a KSM page copies it) or, for a
// chain, pruneTime f64 (its last prune, ms). A tree walk reads one record
// per level.
export const NODE_SIZE: usize = 64;
// @ts-ignore: decorator
@inline export function nd_is_chain(n: usize): bool { return load<u8>(n, 16) != 0; }
// @ts-ignore: decorator
@inline export function nd_content(n: usize): u64 { return load<u64>(n, ND_CONTENT); }
export const ND_CONTENT: usize = 56;
// @ts-ignore: decorator
@inline export function nd_page(n: usize): usize { return load<u32>(n, 20); }
// @ts-ignore: decorator
@inline export function nd_set_page(n: usize, p: usize): void { store<u32>(n, <u32>p, 20); }
// @ts-ignore: decorator
@inline export function nd_set_content(n: usize, c: u64): void { store<u64>(n, c, ND_CONTENT); }
// @ts-ignore: decorator
@inline export function nd_items(n: usize): usize { return load<u32>(n, ND_ITEMS); }
// @ts-ignore: decorator
@inline export function nd_set_items(n: usize, i: usize): void { store<u32>(n, <u32>i, ND_ITEMS); }
/** A node's first link lives at node + ND_ITEMS, the next one at link + LN_NEXT. */
export const ND_ITEMS: usize = 24;
// @ts-ignore: decorator
@inline export function nd_item_count(n: usize): u32 { return load<u32>(n, 28); }
// @ts-ignore: decorator
@inline export function nd_set_item_count(n: usize, c: u32): void { store<u32>(n, c, 28); }
// @ts-ignore: decorator
@inline export function nd_dups(n: usize): usize { return load<u32>(n, 32); }
// @ts-ignore: decorator
@inline export function nd_set_dups(n: usize, d: usize): void { store<u32>(n, <u32>d, 32); }
// @ts-ignore: decorator
@inline export function nd_dup_count(n: usize): u32 { return load<u32>(n, 36); }
// @ts-ignore: decorator
@inline export function nd_set_dup_count(n: usize, c: u32): void { store<u32>(n, c, 36); }
// @ts-ignore: decorator
@inline export function nd_chain(n: usize): usize { return load<u32>(n, 40); }
// @ts-ignore: decorator
@inline export function nd_set_chain(n: usize, c: usize): void { store<u32>(n, <u32>c, 40); }
// @ts-ignore: decorator
@inline export function nd_dprev(n: usize): usize { return load<u32>(n, 44); }
// @ts-ignore: decorator
@inline export function nd_set_dprev(n: usize, p: usize): void { store<u32>(n, <u32>p, 44); }
// @ts-ignore: decorator
@inline export function nd_dnext(n: usize): usize { return load<u32>(n, 48); }
// @ts-ignore: decorator
@inline export function nd_set_dnext(n: usize, p: usize): void { store<u32>(n, <u32>p, 48); }
// @ts-ignore: decorator
@inline export function nd_links(n: usize): u32 { return load<u32>(n, 52); }
// @ts-ignore: decorator
@inline export function nd_set_links(n: usize, c: u32): void { store<u32>(n, c, 52); }
// @ts-ignore: decorator
@inline export function nd_prune_time(n: usize): f64 { return load<f64>(n, 56); }
// @ts-ignore: decorator
@inline export function nd_set_prune_time(n: usize, t: f64): void { store<f64>(n, t, 56); }

// ---- struct ksm_mm_slot: 16 bytes -------------------------------------------------------
// 0 mm, 4 next, 8 prev, 12 the first link of its rmap_item list.
export const SLOT_SIZE: usize = 16;
export const SL_ITEMS: usize = 12;
// @ts-ignore: decorator
@inline export function sl_mm(s: usize): usize { return load<u32>(s, 0); }
// @ts-ignore: decorator
@inline export function sl_next(s: usize): usize { return load<u32>(s, 4); }
// @ts-ignore: decorator
@inline export function sl_set_next(s: usize, n: usize): void { store<u32>(s, <u32>n, 4); }
// @ts-ignore: decorator
@inline export function sl_prev(s: usize): usize { return load<u32>(s, 8); }
// @ts-ignore: decorator
@inline export function sl_set_prev(s: usize, p: usize): void { store<u32>(s, <u32>p, 8); }
