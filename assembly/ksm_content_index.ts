// Content → record indexes for KSM's trees (Wasm engine only: the reference
// engine always walks, and no result depends on them).
//
// The stable tree's regular nodes: with no chain and no stale node in the
// stable tree, a walk has no side effects (nothing to prune, collapse or
// drop) and regular nodes have distinct contents, so stable_tree_search()
// is exactly a lookup of the content (ksm_stable.ts). The unstable tree's
// nodes: while nothing but ksmd has run since the pass began, their filed
// contents are exact and distinct, so a search is a lookup too, and the tree
// itself is built only if it is needed (ksmd.ts).
//
// An index is an open-addressing table of 16-byte slots (content u64,
// record u32, pad), at most half full, with backward-shift deletion. If its
// table cannot grow, it is dropped and marked not ok (the caller walks).

import { block_alloc, block_free, pow2_class } from "./alloc";

@unmanaged
export class ContentIndex {
  table: usize;
  cap: u32;
  count: u32;
  ok: bool;
}

/** An empty index in the static room at p (memory.data(offsetof<ContentIndex>(), 8) at the caller: one per call site). */
export function content_index(p: usize): ContentIndex {
  const m = changetype<ContentIndex>(p);
  m.ok = true;
  return m;
}

// @ts-ignore: decorator
@inline function slot_of(c: u64, mask: u32): u32 {
  return <u32>((c * 0x9e3779b97f4a7c15) >> 40) & mask;
}

/** The record filed under content c, or 0. */
export function cindex_get(m: ContentIndex, c: u64): usize {
  if (m.count == 0) return 0;
  const mask = m.cap - 1;
  let i = slot_of(c, mask);
  for (;;) {
    const e = m.table + (<usize>i << 4);
    const r = <usize>load<u32>(e, 8);
    if (r == 0) return 0;
    if (load<u64>(e) == c) return r;
    i = (i + 1) & mask;
  }
  return 0;
}

function put(m: ContentIndex, c: u64, rec: usize): void {
  const mask = m.cap - 1;
  let i = slot_of(c, mask);
  while (load<u32>(m.table + (<usize>i << 4), 8) != 0) i = (i + 1) & mask;
  const e = m.table + (<usize>i << 4);
  store<u64>(e, c);
  store<u32>(e, <u32>rec, 8);
}

/** Drop the table: the index is not ok until cindex_reset. */
function drop(m: ContentIndex): void {
  if (m.table != 0) block_free(pow2_class(<usize>m.cap << 4), m.table);
  m.table = 0;
  m.cap = 0;
  m.count = 0;
  m.ok = false;
}

/** File rec under content c (not filed yet); false, with the index dropped, if its table cannot grow. */
export function cindex_add(m: ContentIndex, c: u64, rec: usize): bool {
  if (!cindex_reserve(m)) return false;
  put(m, c, rec);
  m.count++;
  return true;
}

/** Room for one more record; false, with the index dropped, if its table cannot grow. */
export function cindex_reserve(m: ContentIndex): bool {
  if (!m.ok) return false;
  if ((m.count + 1) * 2 > m.cap) {
    const cap: u32 = m.cap == 0 ? 1024 : m.cap * 2;
    const t = cap <= 0x4000000 ? block_alloc(pow2_class(<usize>cap << 4)) : 0;
    if (t == 0) {
      drop(m);
      return false;
    }
    const old = m.table;
    const oldCap = m.cap;
    m.table = t;
    m.cap = cap;
    for (let i: u32 = 0; i < oldCap; i++) {
      const e = old + (<usize>i << 4);
      const r = <usize>load<u32>(e, 8);
      if (r != 0) put(m, load<u64>(e), r);
    }
    if (old != 0) block_free(pow2_class(<usize>oldCap << 4), old);
  }
  return true;
}

/** File rec under content c after cindex_reserve. */
export function cindex_put(m: ContentIndex, c: u64, rec: usize): void {
  put(m, c, rec);
  m.count++;
}

/** Take rec (filed under content c) out. */
export function cindex_remove(m: ContentIndex, c: u64, rec: usize): void {
  if (!m.ok || m.count == 0) return;
  const mask = m.cap - 1;
  let i = slot_of(c, mask);
  for (;;) {
    const r = <usize>load<u32>(m.table + (<usize>i << 4), 8);
    if (r == 0) return;
    if (r == rec) break;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion: later entries of the probe run move up into the hole.
  let hole = i;
  let j = (i + 1) & mask;
  for (;;) {
    const e = m.table + (<usize>j << 4);
    const r = <usize>load<u32>(e, 8);
    if (r == 0) break;
    const home = slot_of(load<u64>(e), mask);
    // Move the entry at j to the hole if its home is not within (hole, j].
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      memory.copy(m.table + (<usize>hole << 4), e, 16);
      hole = j;
    }
    j = (j + 1) & mask;
  }
  store<u64>(m.table + (<usize>hole << 4), 0);
  store<u32>(m.table + (<usize>hole << 4), 0, 8);
  m.count--;
}

/** Empty the index (keeping its table) and make it ok again. */
export function cindex_reset(m: ContentIndex): void {
  if (m.count != 0) memory.fill(m.table, 0, <usize>m.cap << 4);
  m.count = 0;
  m.ok = true;
}
