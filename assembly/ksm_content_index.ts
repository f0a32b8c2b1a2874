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
// record u32, probe distance u32), at most half full, kept in Robin Hood
// order (an entry never sits further from its home slot than the entry it
// passed), so a lookup of an absent content stops at the first entry closer
// to its home than the probe is, and deletion shifts the run back.
//
// Home slots keep nearby contents nearby: scenarios number their contents
// (write N, cycle K, unique = the page's address), and ksmd meets them in
// address order, so consecutive visits probe neighbouring slots instead of
// missing the caches at random. Contents that crowd a few home slots
// (long probes or long shifts on insert) make the index switch to a
// scrambling hash for good, rebuilding its table once. If its table cannot
// grow, it is dropped and marked not ok (the caller walks).

import { block_alloc, block_free, pow2_class } from "./alloc";

@unmanaged
export class ContentIndex {
  table: usize;
  cap: u32;
  count: u32;
  ok: bool;
  /** Home slots come from a scrambling hash (contents crowded the locality-keeping one). */
  scrambled: bool;
}

/** An insert that probes or shifts this many slots switches the index to the scrambling hash. */
const CROWDED: u32 = 64;

/** An empty index in the static room at p (memory.data(offsetof<ContentIndex>(), 8) at the caller: one per call site). */
export function content_index(p: usize): ContentIndex {
  const m = changetype<ContentIndex>(p);
  m.ok = true;
  return m;
}

/**
 * The home slot of content c: its low bits folded with higher ones (an
 * invertible mix, the identity below 4096), so that consecutive contents,
 * and consecutive page addresses, get consecutive slots; or, once the index
 * is scrambled, a mixing hash.
 */
// @ts-ignore: decorator
@inline function home(m: ContentIndex, c: u64, mask: u32): u32 {
  if (m.scrambled) {
    // splitmix64's finalizer: every bit of c moves every bit of the slot.
    let z = (c ^ (c >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return <u32>(z ^ (z >> 31)) & mask;
  }
  return <u32>(c ^ (c >> 12) ^ (c >> 32)) & mask;
}

// A slot: content u64 at 0, record u32 at 8 (0: empty), distance from its home slot u32 at 12.
// @ts-ignore: decorator
@inline function slot_at(m: ContentIndex, i: u32): usize {
  return m.table + (<usize>i << 4);
}

/** The record filed under content c, or 0. */
export function cindex_get(m: ContentIndex, c: u64): usize {
  if (m.count == 0) return 0;
  const mask = m.cap - 1;
  let i = home(m, c, mask);
  for (let d: u32 = 0; ; d++) {
    const e = slot_at(m, i);
    const r = <usize>load<u32>(e, 8);
    // An empty slot, or an entry nearer its home than c would be here: c is absent.
    if (r == 0 || load<u32>(e, 12) < d) return 0;
    if (load<u64>(e) == c) return r;
    i = (i + 1) & mask;
  }
  return 0;
}

/** Place (c, rec) in Robin Hood order (the table has room); returns the slots stepped over. */
function put(m: ContentIndex, c: u64, rec: usize): u32 {
  const mask = m.cap - 1;
  let i = home(m, c, mask);
  let d: u32 = 0;
  let r = <u32>rec;
  for (let steps: u32 = 0; ; steps++) {
    const e = slot_at(m, i);
    const o = load<u32>(e, 8);
    if (o == 0) {
      store<u64>(e, c);
      store<u32>(e, r, 8);
      store<u32>(e, d, 12);
      return steps;
    }
    const od = load<u32>(e, 12);
    if (od < d) {
      // The entry here is nearer its home: c takes its slot, and it moves on.
      const oc = load<u64>(e);
      store<u64>(e, c);
      store<u32>(e, r, 8);
      store<u32>(e, d, 12);
      c = oc;
      r = o;
      d = od;
    }
    i = (i + 1) & mask;
    d++;
  }
  return 0;
}

/** Drop the table: the index is not ok until cindex_reset. */
function drop(m: ContentIndex): void {
  if (m.table != 0) block_free(pow2_class(<usize>m.cap << 4), m.table);
  m.table = 0;
  m.cap = 0;
  m.count = 0;
  m.ok = false;
}

/** Move every entry to a new table of cap slots; false, with the index dropped, if there is no memory for it. */
function rehash(m: ContentIndex, cap: u32): bool {
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
  return true;
}

/** File rec under content c (not filed yet); false, with the index dropped, if its table cannot grow. */
export function cindex_add(m: ContentIndex, c: u64, rec: usize): bool {
  if (!cindex_reserve(m)) return false;
  cindex_put(m, c, rec);
  return true;
}

/** Room for one more record; false, with the index dropped, if its table cannot grow. */
export function cindex_reserve(m: ContentIndex): bool {
  if (!m.ok) return false;
  if ((m.count + 1) * 2 > m.cap) return rehash(m, m.cap == 0 ? 1024 : m.cap * 2);
  return true;
}

/** File rec under content c after cindex_reserve; a crowded insert scrambles the index (if memory allows; else it is dropped). */
export function cindex_put(m: ContentIndex, c: u64, rec: usize): void {
  const steps = put(m, c, rec);
  m.count++;
  if (steps >= CROWDED && !m.scrambled) {
    m.scrambled = true;
    rehash(m, m.cap);
  }
}

/** Take rec (filed under content c) out. */
export function cindex_remove(m: ContentIndex, c: u64, rec: usize): void {
  if (!m.ok || m.count == 0) return;
  const mask = m.cap - 1;
  let i = home(m, c, mask);
  for (let d: u32 = 0; ; d++) {
    const e = slot_at(m, i);
    const r = <usize>load<u32>(e, 8);
    if (r == 0 || load<u32>(e, 12) < d) return;
    if (r == rec) break;
    i = (i + 1) & mask;
  }
  // Backward shift: the entries after the hole that are away from home move back one slot.
  let hole = i;
  let j = (i + 1) & mask;
  for (;;) {
    const e = slot_at(m, j);
    if (load<u32>(e, 8) == 0 || load<u32>(e, 12) == 0) break;
    const h = slot_at(m, hole);
    store<u64>(h, load<u64>(e));
    store<u32>(h, load<u32>(e, 8), 8);
    store<u32>(h, load<u32>(e, 12) - 1, 12);
    hole = j;
    j = (j + 1) & mask;
  }
  const h = slot_at(m, hole);
  store<u64>(h, 0);
  store<u64>(h, 0, 8);
  m.count--;
}

/** Empty the index (keeping its table and its hash) and make it ok again. */
export function cindex_reset(m: ContentIndex): void {
  if (m.count != 0) memory.fill(m.table, 0, <usize>m.cap << 4);
  m.count = 0;
  m.ok = true;
}
