// The VMA index of one mm, mirroring bindings/reference/tree.ts: find_vma(),
// vma_prev/vma_next, insert and erase, in O(log n). Two levels of sorted
// arrays keyed on vm_end (which is unique): a top array of chunks (each key
// is its chunk's last end) and chunks of up to CHUNK_CAP entries (key, VMA).
// Keys live beside the pointers so searches touch contiguous memory only.
// A VMA's end changes through tree_set_end() so that its key follows; its
// start may change freely as long as VMAs stay ordered and disjoint.

import { CLASS_CHUNK, block_alloc, block_free, block_reserve, pow2_bytes, pow2_class } from "./alloc";
import { mm_map_count, mm_set_map_count, vma_end, vma_raw_set_end, vma_start } from "./mm_types";

export const CHUNK_CAP: i32 = 128;
const KEYS: usize = 8;
const PTRS: usize = 8 + <usize>CHUNK_CAP * 8;
export const CHUNK_SIZE: usize = PTRS + <usize>CHUNK_CAP * 4;

// @ts-ignore: decorator
@inline function c_count(c: usize): i32 { return load<i32>(c); }
// @ts-ignore: decorator
@inline function c_set_count(c: usize, n: i32): void { store<i32>(c, n); }
// @ts-ignore: decorator
@inline function c_key(c: usize, i: i32): u64 { return load<u64>(c + KEYS + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function c_set_key(c: usize, i: i32, k: u64): void { store<u64>(c + KEYS + (<usize>i << 3), k); }
// @ts-ignore: decorator
@inline function c_ptr(c: usize, i: i32): usize { return load<u32>(c + PTRS + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function c_set_ptr(c: usize, i: i32, p: usize): void { store<u32>(c + PTRS + (<usize>i << 2), <u32>p); }

// The mm record's top array: 0 keys ptr, 4 ptrs ptr, 8 count, 12 cap.
// @ts-ignore: decorator
@inline function top_keys(mm: usize): usize { return load<u32>(mm, 0); }
// @ts-ignore: decorator
@inline function top_ptrs(mm: usize): usize { return load<u32>(mm, 4); }
// @ts-ignore: decorator
@inline function top_count(mm: usize): i32 { return load<i32>(mm, 8); }
// @ts-ignore: decorator
@inline function top_cap(mm: usize): i32 { return load<i32>(mm, 12); }
// @ts-ignore: decorator
@inline function top_key(mm: usize, i: i32): u64 { return load<u64>(top_keys(mm) + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function top_set_key(mm: usize, i: i32, k: u64): void { store<u64>(top_keys(mm) + (<usize>i << 3), k); }
// @ts-ignore: decorator
@inline function top_chunk(mm: usize, i: i32): usize { return load<u32>(top_ptrs(mm) + (<usize>i << 2)); }

/** Where the last search landed: chunk index and entry index. */
let posChunk: i32 = 0;
let posEntry: i32 = 0;
/** The mm of the last search (positions are per mm). */
let lastMm: usize = 0;

/** The key just before position (ci, ei), or 0 at the very start. */
function key_before(mm: usize, ci: i32, ei: i32): u64 {
  if (ei > 0) return c_key(top_chunk(mm, ci), ei - 1);
  if (ci > 0) {
    const c = top_chunk(mm, ci - 1);
    return c_key(c, c_count(c) - 1);
  }
  return 0;
}

/**
 * Whether (ci, ei) is the position of the first key above page. Syscalls
 * look up the same neighbourhood again and again, so tree_pos tries the last
 * position and the one after it before searching.
 */
function pos_is(mm: usize, ci: i32, ei: i32, page: u64): bool {
  if (ci >= top_count(mm)) return false;
  const c = top_chunk(mm, ci);
  if (ei >= c_count(c) || c_key(c, ei) <= page) return false;
  return key_before(mm, ci, ei) <= page;
}

/** Position of the first VMA whose end is above page (posChunk == top count if none). */
function tree_pos(mm: usize, page: u64): void {
  if (mm == lastMm) {
    if (pos_is(mm, posChunk, posEntry, page)) return;
    if (pos_is(mm, posChunk, posEntry + 1, page)) {
      posEntry++;
      return;
    }
  }
  lastMm = mm;
  let lo: i32 = 0;
  let hi: i32 = top_count(mm);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (top_key(mm, mid) > page) hi = mid;
    else lo = mid + 1;
  }
  posChunk = lo;
  if (lo == top_count(mm)) return;
  const c = top_chunk(mm, lo);
  let a: i32 = 0;
  let b: i32 = c_count(c);
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (c_key(c, mid) > page) b = mid;
    else a = mid + 1;
  }
  posEntry = a;
}

/** find_vma(): the first VMA with end > page, or 0. */
export function tree_find(mm: usize, page: u64): usize {
  tree_pos(mm, page);
  if (posChunk == top_count(mm)) return 0;
  return c_ptr(top_chunk(mm, posChunk), posEntry);
}

/** vma_lookup(): the VMA containing page, or 0. */
export function tree_lookup(mm: usize, page: u64): usize {
  const v = tree_find(mm, page);
  return v != 0 && vma_start(v) <= page ? v : 0;
}

/** Position v in the index (its key is its current end). */
function tree_locate(mm: usize, v: usize): void {
  tree_pos(mm, vma_end(v) - 1);
  if (posChunk == top_count(mm) || c_ptr(top_chunk(mm, posChunk), posEntry) != v) {
    abort("vmasim internal error: VMA not in tree");
  }
}

function entry_before(mm: usize, ci: i32, ei: i32): usize {
  if (ei > 0) return c_ptr(top_chunk(mm, ci), ei - 1);
  if (ci > 0) {
    const c = top_chunk(mm, ci - 1);
    return c_ptr(c, c_count(c) - 1);
  }
  return 0;
}

export function tree_next(mm: usize, v: usize): usize {
  tree_locate(mm, v);
  const c = top_chunk(mm, posChunk);
  if (posEntry + 1 < c_count(c)) return c_ptr(c, posEntry + 1);
  if (posChunk + 1 < top_count(mm)) return c_ptr(top_chunk(mm, posChunk + 1), 0);
  return 0;
}

export function tree_prev(mm: usize, v: usize): usize {
  tree_locate(mm, v);
  return entry_before(mm, posChunk, posEntry);
}

/** The last VMA with start < page, or 0. */
export function tree_find_prev(mm: usize, page: u64): usize {
  tree_pos(mm, page);
  if (posChunk < top_count(mm)) {
    const v = c_ptr(top_chunk(mm, posChunk), posEntry);
    if (vma_start(v) < page) return v;
    return entry_before(mm, posChunk, posEntry);
  }
  const n = top_count(mm);
  if (n == 0) return 0;
  const c = top_chunk(mm, n - 1);
  return c_ptr(c, c_count(c) - 1);
}

/** Room for n more chunks in the top array and n spare chunks; false if memory is exhausted. */
export function tree_reserve(mm: usize, n: i32): bool {
  if (!block_reserve(CLASS_CHUNK, <u32>n)) return false;
  const want = top_count(mm) + n;
  if (want <= top_cap(mm)) return true;
  let cap = top_cap(mm) == 0 ? 16 : top_cap(mm);
  while (cap < want) cap <<= 1;
  const kcls = pow2_class(<usize>cap * 8);
  const pcls = pow2_class(<usize>cap * 4);
  const keys = block_alloc(kcls);
  if (keys == 0) return false;
  const ptrs = block_alloc(pcls);
  if (ptrs == 0) {
    block_free(kcls, keys);
    return false;
  }
  const n0 = top_count(mm);
  if (top_cap(mm) != 0) {
    memory.copy(keys, top_keys(mm), <usize>n0 * 8);
    memory.copy(ptrs, top_ptrs(mm), <usize>n0 * 4);
    block_free(pow2_class(<usize>top_cap(mm) * 8), top_keys(mm));
    block_free(pow2_class(<usize>top_cap(mm) * 4), top_ptrs(mm));
  }
  store<u32>(mm, <u32>keys, 0);
  store<u32>(mm, <u32>ptrs, 4);
  const realCap = <i32>min(pow2_bytes(kcls) / 8, pow2_bytes(pcls) / 4);
  store<i32>(mm, realCap, 12);
  return true;
}

/** Bytes of the top array (for the memory report). */
export function tree_top_bytes(mm: usize): usize {
  return top_cap(mm) == 0 ? 0 : <usize>top_cap(mm) * 12;
}

function top_insert(mm: usize, i: i32, c: usize, key: u64): void {
  const n = top_count(mm);
  const keys = top_keys(mm);
  const ptrs = top_ptrs(mm);
  memory.copy(keys + (<usize>(i + 1) << 3), keys + (<usize>i << 3), <usize>(n - i) << 3);
  memory.copy(ptrs + (<usize>(i + 1) << 2), ptrs + (<usize>i << 2), <usize>(n - i) << 2);
  store<u64>(keys + (<usize>i << 3), key);
  store<u32>(ptrs + (<usize>i << 2), <u32>c);
  store<i32>(mm, n + 1, 8);
}

function top_remove(mm: usize, i: i32): void {
  const n = top_count(mm);
  const keys = top_keys(mm);
  const ptrs = top_ptrs(mm);
  memory.copy(keys + (<usize>i << 3), keys + (<usize>(i + 1) << 3), <usize>(n - i - 1) << 3);
  memory.copy(ptrs + (<usize>i << 2), ptrs + (<usize>(i + 1) << 2), <usize>(n - i - 1) << 2);
  store<i32>(mm, n - 1, 8);
}

function chunk_insert(c: usize, i: i32, v: usize): void {
  const n = c_count(c);
  memory.copy(c + KEYS + (<usize>(i + 1) << 3), c + KEYS + (<usize>i << 3), <usize>(n - i) << 3);
  memory.copy(c + PTRS + (<usize>(i + 1) << 2), c + PTRS + (<usize>i << 2), <usize>(n - i) << 2);
  c_set_key(c, i, vma_end(v));
  c_set_ptr(c, i, v);
  c_set_count(c, n + 1);
}

/** Insert v (not yet in the index); the caller has reserved with tree_reserve. */
export function tree_insert(mm: usize, v: usize): void {
  mm_set_map_count(mm, mm_map_count(mm) + 1);
  if (top_count(mm) == 0) {
    const c = block_alloc(CLASS_CHUNK);
    chunk_insert(c, 0, v);
    top_insert(mm, 0, c, vma_end(v));
    return;
  }
  tree_pos(mm, vma_start(v));
  let ci = posChunk;
  let ei = posEntry;
  if (ci == top_count(mm)) {
    ci = top_count(mm) - 1;
    ei = c_count(top_chunk(mm, ci));
  }
  let c = top_chunk(mm, ci);
  if (c_count(c) == CHUNK_CAP) {
    if (ei == CHUNK_CAP && ci == top_count(mm) - 1) {
      // Appending at the very end: start a new chunk and keep this one full.
      const fresh = block_alloc(CLASS_CHUNK);
      chunk_insert(fresh, 0, v);
      top_insert(mm, ci + 1, fresh, vma_end(v));
      return;
    }
    const half = CHUNK_CAP >> 1;
    const right = block_alloc(CLASS_CHUNK);
    memory.copy(right + KEYS, c + KEYS + (<usize>half << 3), <usize>(CHUNK_CAP - half) << 3);
    memory.copy(right + PTRS, c + PTRS + (<usize>half << 2), <usize>(CHUNK_CAP - half) << 2);
    c_set_count(right, CHUNK_CAP - half);
    c_set_count(c, half);
    top_insert(mm, ci + 1, right, c_key(right, CHUNK_CAP - half - 1));
    top_set_key(mm, ci, c_key(c, half - 1));
    if (ei > half) {
      c = right;
      ci++;
      ei -= half;
    }
  }
  chunk_insert(c, ei, v);
  if (ei == c_count(c) - 1) top_set_key(mm, ci, vma_end(v));
}

/** Erase v from the index (the VMA record itself stays; the caller frees it). */
export function tree_remove(mm: usize, v: usize): void {
  tree_locate(mm, v);
  const ci = posChunk;
  const ei = posEntry;
  const c = top_chunk(mm, ci);
  const n = c_count(c);
  memory.copy(c + KEYS + (<usize>ei << 3), c + KEYS + (<usize>(ei + 1) << 3), <usize>(n - ei - 1) << 3);
  memory.copy(c + PTRS + (<usize>ei << 2), c + PTRS + (<usize>(ei + 1) << 2), <usize>(n - ei - 1) << 2);
  c_set_count(c, n - 1);
  mm_set_map_count(mm, mm_map_count(mm) - 1);
  if (n == 1) {
    top_remove(mm, ci);
    block_free(CLASS_CHUNK, c);
  } else if (ei == n - 1) {
    top_set_key(mm, ci, c_key(c, n - 2));
  }
}

/** Change v's end, keeping its index key in step. */
export function tree_set_end(mm: usize, v: usize, end: u64): void {
  tree_locate(mm, v);
  const c = top_chunk(mm, posChunk);
  c_set_key(c, posEntry, end);
  if (posEntry == c_count(c) - 1) top_set_key(mm, posChunk, end);
  vma_raw_set_end(v, end);
}

/** Calls for every VMA in address order: the i-th VMA (for fork and queries). */
export function tree_at(mm: usize, ci: i32, ei: i32): usize {
  return c_ptr(top_chunk(mm, ci), ei);
}
export function tree_chunks(mm: usize): i32 {
  return top_count(mm);
}
export function tree_chunk_len(mm: usize, ci: i32): i32 {
  return c_count(top_chunk(mm, ci));
}
