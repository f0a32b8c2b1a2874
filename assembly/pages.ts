// Page tables of private anonymous memory, mirroring
// bindings/reference/pages.ts: which page each address maps, so that KSM
// has something to scan. Faults install pages, writes to shared or KSM
// pages copy them (CoW), zaps drop mappings.
//
// The table of an mm is two-level: a directory of leaves sorted by key
// (vpn >> 9), each entry {key u32, leaf u32, present u32, pad}, and leaves
// of 512 u32 page pointers (0: no page; KSM_ZERO_PAGE: the KSM zero page).
// A leaf is freed when its last page goes. Walks in address order go leaf
// by leaf. A page record (mm_types.ts) is freed once no page table maps it
// and it is not a KSM page (a stable node still looks at a KSM page whose
// last mapping went, to find out that it is stale).

import { MAX_MM_PAGES } from "./generated/facts";
import { CLASS_PAGE, block_alloc, block_free, block_reserve, pow2_bytes, pow2_class } from "./alloc";
import { ksm_page_unmapped } from "./ksm_stable";
import { ksm_zero_pages_add } from "./ksmd";
import {
  KSM_ZERO_PAGE, mm_ksm_zero_pages, mm_page_count, mm_pdir, mm_pdir_cap, mm_pdir_count, mm_set_ksm_zero_pages,
  mm_set_page_count, mm_set_pdir, mm_set_pdir_cap, mm_set_pdir_count, page_content, page_mapcount, page_set_content,
  page_set_mapcount, page_stable,
} from "./mm_types";

const LEAF_SHIFT: u64 = 9;
export const LEAF_PAGES: u64 = 512;
const LEAF_MASK: u64 = 511;
const LEAF_BYTES: usize = 2048;
const ENTRY_SHIFT: usize = 4;
/** Returned by pt_next when there is no page. */
export const NO_PAGE: u64 = u64.MAX_VALUE;

let leafClass: i32 = 0;

export function pages_init(): void {
  leafClass = pow2_class(LEAF_BYTES);
}

// ---- the directory ---------------------------------------------------------------
// @ts-ignore: decorator
@inline function entry(mm: usize, i: i32): usize { return mm_pdir(mm) + (<usize>i << ENTRY_SHIFT); }
// @ts-ignore: decorator
@inline function e_key(e: usize): u32 { return load<u32>(e, 0); }
// @ts-ignore: decorator
@inline function e_leaf(e: usize): usize { return load<u32>(e, 4); }
// @ts-ignore: decorator
@inline function e_count(e: usize): u32 { return load<u32>(e, 8); }
// @ts-ignore: decorator
@inline function e_set_count(e: usize, n: u32): void { store<u32>(e, n, 8); }

/** The index of the first entry whose key is >= key (binary search, after a guess that holds for dense tables). */
function dir_search(mm: usize, key: u32): i32 {
  const d = mm_pdir(mm);
  let hi: i32 = mm_pdir_count(mm);
  if (hi == 0) return 0;
  const k0 = load<u32>(d);
  if (key <= k0) return 0;
  const g = key - k0;
  if (g < <u32>hi && load<u32>(d + (<usize>g << ENTRY_SHIFT)) == key) return <i32>g;
  let lo: i32 = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u32>(d + (<usize>mid << ENTRY_SHIFT)) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Two remembered positions: one for syscalls and ksmd's lookups, one for
// ksmd's address-order walk (so that the lookups of a tree walk do not
// throw the walk's position away). A position is checked before use.
let cMm: usize = 0;
let cIdx: i32 = 0;
let sMm: usize = 0;
let sIdx: i32 = 0;

/** dir_search through the remembered position (the entry itself or the next one). */
function dir_lower(mm: usize, key: u32): i32 {
  if (mm == cMm) {
    const n = mm_pdir_count(mm);
    const i = cIdx;
    if (i < n && e_key(entry(mm, i)) == key) return i;
    if (i + 1 < n && e_key(entry(mm, i + 1)) == key) {
      cIdx = i + 1;
      return i + 1;
    }
  }
  const i = dir_search(mm, key);
  cMm = mm;
  cIdx = i;
  return i;
}

/** The leaf index of the last pt_slot/pt_slot_create. */
let ptIdx: i32 = 0;

/** The address of vpn's slot in leaf, the leaf that covers vpn (ksmd's runs walk a leaf they hold). */
// @ts-ignore: decorator
@inline export function leaf_slot(leaf: usize, vpn: u64): usize {
  return leaf + (<usize>(vpn & LEAF_MASK) << 2);
}

/** The first page number of the leaf that covers vpn. */
// @ts-ignore: decorator
@inline export function leaf_base(vpn: u64): u64 {
  return vpn & ~LEAF_MASK;
}

/** The address of vpn's slot, or 0 if its leaf does not exist. */
function pt_slot(mm: usize, vpn: u64): usize {
  const key = <u32>(vpn >> LEAF_SHIFT);
  const i = dir_lower(mm, key);
  if (i >= mm_pdir_count(mm)) return 0;
  const e = entry(mm, i);
  if (e_key(e) != key) return 0;
  ptIdx = i;
  return leaf_slot(e_leaf(e), vpn);
}

/** Room for extra more directory entries; false if memory is exhausted. */
function dir_reserve(mm: usize, extra: u64): bool {
  const want = <u64>mm_pdir_count(mm) + extra;
  const cap = mm_pdir_cap(mm);
  if (want <= <u64>cap) return true;
  if (want > 0x10000000) return false;
  let nc: u64 = cap == 0 ? 4 : <u64>cap;
  while (nc < want) nc <<= 1;
  const cls = pow2_class(<usize>nc << ENTRY_SHIFT);
  const d = block_alloc(cls);
  if (d == 0) return false;
  const old = mm_pdir(mm);
  if (old != 0) {
    memory.copy(d, old, <usize>mm_pdir_count(mm) << ENTRY_SHIFT);
    block_free(pow2_class(<usize>cap << ENTRY_SHIFT), old);
  }
  mm_set_pdir(mm, d);
  mm_set_pdir_cap(mm, <i32>(pow2_bytes(cls) >> ENTRY_SHIFT));
  return true;
}

/** A new empty leaf for key at directory index i (room reserved beforehand). */
function dir_insert(mm: usize, i: i32, key: u32): usize {
  if (!dir_reserve(mm, 1)) abort("vmasim internal error: page directory not reserved");
  const leaf = block_alloc(leafClass);
  if (leaf == 0) abort("vmasim internal error: page table leaf not reserved");
  const n = mm_pdir_count(mm);
  const e = entry(mm, i);
  memory.copy(e + (1 << ENTRY_SHIFT), e, <usize>(n - i) << ENTRY_SHIFT);
  store<u32>(e, key, 0);
  store<u32>(e, <u32>leaf, 4);
  store<u32>(e, 0, 8);
  mm_set_pdir_count(mm, n + 1);
  return leaf;
}

/** Drop the (empty) leaf at directory index i. */
function dir_remove(mm: usize, i: i32): void {
  const n = mm_pdir_count(mm);
  const e = entry(mm, i);
  block_free(leafClass, e_leaf(e));
  memory.copy(e, e + (1 << ENTRY_SHIFT), <usize>(n - i - 1) << ENTRY_SHIFT);
  mm_set_pdir_count(mm, n - 1);
}

/** The address of vpn's slot, making its leaf if needed (reserved beforehand). */
function pt_slot_create(mm: usize, vpn: u64): usize {
  const key = <u32>(vpn >> LEAF_SHIFT);
  const i = dir_lower(mm, key);
  let leaf: usize;
  if (i < mm_pdir_count(mm) && e_key(entry(mm, i)) == key) leaf = e_leaf(entry(mm, i));
  else leaf = dir_insert(mm, i, key);
  ptIdx = i;
  return leaf + (<usize>(vpn & LEAF_MASK) << 2);
}

/** The slot found last (pt_slot/pt_slot_create) got a page. */
function pt_added(mm: usize): void {
  const e = entry(mm, ptIdx);
  e_set_count(e, e_count(e) + 1);
  mm_set_page_count(mm, mm_page_count(mm) + 1);
}

/** The slot found last lost its page: its leaf goes if that was the last one. */
function pt_removed(mm: usize): void {
  const e = entry(mm, ptIdx);
  const n = e_count(e) - 1;
  mm_set_page_count(mm, mm_page_count(mm) - 1);
  if (n == 0) dir_remove(mm, ptIdx);
  else e_set_count(e, n);
}

/** The page mapped at vpn (0 if none, KSM_ZERO_PAGE for the zero page). */
export function pt_get(mm: usize, vpn: u64): usize {
  const s = pt_slot(mm, vpn);
  return s == 0 ? 0 : load<u32>(s);
}

/** Replace the page mapped at vpn (which must be present) by page. */
export function pt_replace(mm: usize, vpn: u64, page: usize): void {
  store<u32>(pt_slot(mm, vpn), <u32>page);
}

/** The page of the last pt_next, and the leaf that maps it. */
export let ptPage: usize = 0;
export let ptLeaf: usize = 0;

/**
 * Load the page records of leaf's entries o .. stop-1 together (ksmd's
 * read-ahead: scan_mm calls it on entering a leaf), so that their cache
 * misses overlap instead of coming one visit at a time; returns a sum of
 * what it read, which the caller keeps so the loads stay.
 */
export function pt_warm_leaf(leaf: usize, o: u32, stop: u32): u32 {
  let s: u32 = 0;
  for (; o < stop; o++) {
    const p = <usize>load<u32>(leaf + (<usize>o << 2));
    if (p > KSM_ZERO_PAGE) s += <u32>page_stable(p);
  }
  return s;
}

/**
 * The first page number >= from and < end that maps a page (ptPage), or
 * NO_PAGE; ksmd's address-order walk (its own remembered position).
 */
export function pt_next(mm: usize, from: u64, end: u64): u64 {
  if (from >= end) return NO_PAGE;
  const key = <u32>(from >> LEAF_SHIFT);
  const n = mm_pdir_count(mm);
  let i: i32;
  if (mm == sMm && sIdx < n && e_key(entry(mm, sIdx)) == key) i = sIdx;
  else i = dir_search(mm, key);
  for (; i < n; i++) {
    const e = entry(mm, i);
    const k = e_key(e);
    const base = <u64>k << LEAF_SHIFT;
    if (base >= end) break;
    const leaf = e_leaf(e);
    let o: u64 = k == key ? from & LEAF_MASK : 0;
    const stop: u64 = end - base < LEAF_PAGES ? end - base : LEAF_PAGES;
    for (; o < stop; o++) {
      const p = load<u32>(leaf + (<usize>o << 2));
      if (p != 0) {
        sMm = mm;
        sIdx = i;
        ptPage = p;
        ptLeaf = leaf;
        return base + o;
      }
    }
    if (stop < LEAF_PAGES) break;
  }
  return NO_PAGE;
}

/** The last page number >= lo and < before that maps a page (ptPage), or NO_PAGE. */
function pt_prev(mm: usize, lo: u64, before: u64): u64 {
  if (lo >= before) return NO_PAGE;
  const last = before - 1;
  const key = <u32>(last >> LEAF_SHIFT);
  let i = dir_search(mm, key + 1) - 1;
  for (; i >= 0; i--) {
    const e = entry(mm, i);
    const k = e_key(e);
    const base = <u64>k << LEAF_SHIFT;
    if (base + LEAF_PAGES <= lo) break;
    const leaf = e_leaf(e);
    let o: i64 = k == key ? <i64>(last & LEAF_MASK) : <i64>LEAF_MASK;
    const stop: i64 = lo > base ? <i64>(lo - base) : 0;
    for (; o >= stop; o--) {
      const p = load<u32>(leaf + (<usize>o << 2));
      if (p != 0) {
        ptPage = p;
        return base + <u64>o;
      }
    }
    if (stop > 0) break;
  }
  return NO_PAGE;
}

// ---- page records ----------------------------------------------------------------

/** A new private page holding content, mapped once (reserved beforehand). */
function page_new(content: u64): usize {
  const p = block_alloc(CLASS_PAGE);
  if (p == 0) abort("vmasim internal error: page not reserved");
  page_set_content(p, content);
  page_set_mapcount(p, 1);
  return p;
}

/**
 * One mapping of page went (folio_remove_rmap): the record goes with the
 * last one, unless it is a KSM page, whose stable node is then stale.
 */
export function page_unmap(page: usize): void {
  const n = page_mapcount(page) - 1;
  page_set_mapcount(page, n);
  if (n <= 0) {
    const node = page_stable(page);
    if (node == 0) block_free(CLASS_PAGE, page);
    else ksm_page_unmapped(node);
  }
}

/** A page no longer referenced by a stable node: freed if nothing maps it. */
export function page_release(page: usize): void {
  if (page_mapcount(page) <= 0) block_free(CLASS_PAGE, page);
}

/** Drop one mapping of page (folio_remove_rmap + put): a KSM zero page only moves the counters. */
function put_page(mm: usize, page: usize): void {
  if (page == KSM_ZERO_PAGE) {
    mm_set_ksm_zero_pages(mm, mm_ksm_zero_pages(mm) - 1);
    ksm_zero_pages_add(-1);
    return;
  }
  page_unmap(page);
}

/** Whether writing to page must copy it first: shared after fork, a KSM page, or the KSM zero page. */
// @ts-ignore: decorator
@inline function needs_cow(page: usize): bool {
  return page == KSM_ZERO_PAGE || page_mapcount(page) > 1 || page_stable(page) != 0;
}

/** A write fault at vpn installing content (do_anonymous_page / wp_page_copy / reuse). */
export function do_write_page(mm: usize, vpn: u64, content: u64): void {
  const s = pt_slot_create(mm, vpn);
  const page = <usize>load<u32>(s);
  if (page == 0) {
    store<u32>(s, <u32>page_new(content));
    pt_added(mm);
  } else if (needs_cow(page)) {
    put_page(mm, page);
    store<u32>(s, <u32>page_new(content));
  } else {
    page_set_content(page, content);
  }
}

/** A write-populate of vpn (FOLL_WRITE): a zero-filled page if absent, a private copy if shared. */
export function do_populate_page(mm: usize, vpn: u64): void {
  const s = pt_slot_create(mm, vpn);
  const page = <usize>load<u32>(s);
  if (page == 0) {
    store<u32>(s, <u32>page_new(0));
    pt_added(mm);
  } else if (needs_cow(page)) {
    const c = page_content(page);
    put_page(mm, page);
    store<u32>(s, <u32>page_new(c));
  }
}

/** Unmap every page of [start, end) (zap_page_range: munmap, MADV_DONTNEED, a replaced mapping). */
export function zap_page_range(mm: usize, start: u64, end: u64): void {
  if (start >= end) return;
  let i = dir_search(mm, <u32>(start >> LEAF_SHIFT));
  while (i < mm_pdir_count(mm)) {
    const e = entry(mm, i);
    const base = <u64>e_key(e) << LEAF_SHIFT;
    if (base >= end) break;
    const leaf = e_leaf(e);
    const lo = start > base ? start - base : 0;
    const hi = end - base < LEAF_PAGES ? end - base : LEAF_PAGES;
    let removed: u32 = 0;
    for (let o = lo; o < hi; o++) {
      const s = leaf + (<usize>o << 2);
      const p = <usize>load<u32>(s);
      if (p != 0) {
        put_page(mm, p);
        store<u32>(s, 0);
        removed++;
      }
    }
    if (removed != 0) {
      mm_set_page_count(mm, mm_page_count(mm) - removed);
      const left = e_count(e) - removed;
      if (left == 0) {
        dir_remove(mm, i);
        continue;
      }
      e_set_count(e, left);
    }
    i++;
  }
}

/** vpn's page moves to nvpn (overwriting whatever nvpn mapped, as the reference's Map.set does). */
function move_one(mm: usize, vpn: u64, nvpn: u64, page: usize): void {
  const s = pt_slot(mm, vpn);
  store<u32>(s, 0);
  pt_removed(mm);
  const d = pt_slot_create(mm, nvpn);
  if (load<u32>(d) == 0) pt_added(mm);
  store<u32>(d, <u32>page);
}

/** Move the pages of [from, from+n) to [to, to+n) (move_page_tables for mremap). */
export function move_page_range(mm: usize, from: u64, to: u64, n: u64): void {
  if (n == 0 || from == to) return;
  const end = from + n;
  if (to < from || to >= end) {
    // Ascending: a destination is below its source or outside the range.
    let at = from;
    for (;;) {
      const vpn = pt_next(mm, at, end);
      if (vpn == NO_PAGE) break;
      move_one(mm, vpn, vpn - from + to, ptPage);
      at = vpn + 1;
    }
  } else {
    // Overlapping, upwards: descending, so that no source is overwritten before it moves.
    let before = end;
    for (;;) {
      const vpn = pt_prev(mm, from, before);
      if (vpn == NO_PAGE) break;
      move_one(mm, vpn, vpn - from + to, ptPage);
      before = vpn;
    }
  }
}

/**
 * Share the parent's pages of [start, end) with the child (copy_page_range at
 * fork). KSM zero pages are not counted here: ksm_fork() copies the
 * parent's whole counter (dup_mmap).
 */
export function copy_page_range(parent: usize, child: usize, start: u64, end: u64): void {
  if (start >= end) return;
  let i = dir_search(parent, <u32>(start >> LEAF_SHIFT));
  for (; i < mm_pdir_count(parent); i++) {
    const e = entry(parent, i);
    const base = <u64>e_key(e) << LEAF_SHIFT;
    if (base >= end) break;
    const leaf = e_leaf(e);
    const lo = start > base ? start - base : 0;
    const hi = end - base < LEAF_PAGES ? end - base : LEAF_PAGES;
    let cleaf: usize = 0;
    let added: u32 = 0;
    for (let o = lo; o < hi; o++) {
      const p = <usize>load<u32>(leaf + (<usize>o << 2));
      if (p == 0) continue;
      if (p != KSM_ZERO_PAGE) page_set_mapcount(p, page_mapcount(p) + 1);
      if (cleaf == 0) cleaf = pt_slot_create(child, base + o) - (<usize>o << 2);
      const s = cleaf + (<usize>o << 2);
      if (load<u32>(s) == 0) added++;
      store<u32>(s, <u32>p);
    }
    if (added != 0) {
      const ce = entry(child, ptIdx);
      e_set_count(ce, e_count(ce) + added);
      mm_set_page_count(child, mm_page_count(child) + added);
    }
  }
}

/** Replace KSM pages (and KSM zero pages) of [start, end) by private copies (break_ksm / unshare). */
export function unshare_ksm_range(mm: usize, start: u64, end: u64): void {
  if (start >= end) return;
  let i = dir_search(mm, <u32>(start >> LEAF_SHIFT));
  for (; i < mm_pdir_count(mm); i++) {
    const e = entry(mm, i);
    const base = <u64>e_key(e) << LEAF_SHIFT;
    if (base >= end) break;
    const leaf = e_leaf(e);
    const lo = start > base ? start - base : 0;
    const hi = end - base < LEAF_PAGES ? end - base : LEAF_PAGES;
    for (let o = lo; o < hi; o++) {
      const s = leaf + (<usize>o << 2);
      const p = <usize>load<u32>(s);
      if (p == 0) continue;
      if (p == KSM_ZERO_PAGE || page_stable(p) != 0) {
        const c = page_content(p);
        put_page(mm, p);
        store<u32>(s, <u32>page_new(c));
      }
    }
  }
}

// ---- what a command may need (index.ts reserves it before running one) -------------

/** KSM pages and KSM zero pages mapped in [start, end): the pages an unshare of the range makes. */
export function pt_count_ksm(mm: usize, start: u64, end: u64): u64 {
  let n: u64 = 0;
  if (start >= end) return 0;
  let i = dir_search(mm, <u32>(start >> LEAF_SHIFT));
  for (; i < mm_pdir_count(mm); i++) {
    const e = entry(mm, i);
    const base = <u64>e_key(e) << LEAF_SHIFT;
    if (base >= end) break;
    const leaf = e_leaf(e);
    const lo = start > base ? start - base : 0;
    const hi = end - base < LEAF_PAGES ? end - base : LEAF_PAGES;
    for (let o = lo; o < hi; o++) {
      const p = <usize>load<u32>(leaf + (<usize>o << 2));
      if (p != 0 && (p == KSM_ZERO_PAGE || page_stable(p) != 0)) n++;
    }
  }
  return n;
}

/** Leaves of mm holding pages of [start, end). */
export function pt_leaves_in(mm: usize, start: u64, end: u64): u64 {
  if (start >= end) return 0;
  const a = dir_search(mm, <u32>(start >> LEAF_SHIFT));
  const last = (end - 1) >> LEAF_SHIFT;
  const b = last >= 0xffffffff ? mm_pdir_count(mm) : dir_search(mm, <u32>last + 1);
  return <u64>(b - a);
}

/** Leaves of mm. */
export function pt_leaf_count(mm: usize): u64 {
  return <u64>mm_pdir_count(mm);
}

/** Leaves that pages spread over [start, end) can need. */
export function leaves_spanned(start: u64, end: u64): u64 {
  if (start >= end) return 0;
  return ((end - 1) >> LEAF_SHIFT) - (start >> LEAF_SHIFT) + 1;
}

/** Whether faulting in up to pages more pages keeps mm within the simulated RAM (MAX_MM_PAGES). */
export function within_mm_pages(mm: usize, pages: u64): bool {
  return pages <= <u64>MAX_MM_PAGES && mm_page_count(mm) + pages <= <u64>MAX_MM_PAGES;
}

/** Room for pages new page records and leaves new leaves of mm; false if memory is exhausted. */
export function pt_reserve(mm: usize, pages: u64, leaves: u64): bool {
  if (pages > 0x10000000 || leaves > 0x1000000) return false;
  return block_reserve(CLASS_PAGE, <u32>pages) && block_reserve(leafClass, <u32>leaves) && dir_reserve(mm, leaves);
}

/**
 * Room for a fork's copy of parent's page table, made in a new mm: as many
 * leaves as the parent has, and a directory of the size dir_reserve gives it.
 */
export function pt_reserve_fork(parent: usize): bool {
  const leaves = <u64>mm_pdir_count(parent);
  if (leaves == 0) return true;
  let nc: u64 = 4;
  while (nc < leaves) nc <<= 1;
  return block_reserve(leafClass, <u32>leaves) && block_reserve(pow2_class(<usize>nc << ENTRY_SHIFT), 1);
}

/** Room for populating every page of [first, last). */
export function pt_reserve_range(mm: usize, first: u64, last: u64): bool {
  if (first >= last) return true;
  return within_mm_pages(mm, last - first) && pt_reserve(mm, last - first, leaves_spanned(first, last));
}
