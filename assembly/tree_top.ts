// The top array of an mm's index (tree.ts), kept in the mm record: sorted
// keys, each the largest end under one inner node, and those nodes. Its
// search (through the guide where it serves, top_guide.ts), its entries'
// insertion and removal, and its growth.

import { block_alloc, block_free, pow2_bytes, pow2_class } from "./alloc";
import { guide_invalidate, guide_search, guide_serves } from "./top_guide";

// ---- the top array in the mm record: 0 keys ptr, 4 ptrs ptr, 8 count, 12 cap ----
// @ts-ignore: decorator
@inline export function top_keys(mm: usize): usize { return load<u32>(mm, 0); }
// @ts-ignore: decorator
@inline export function top_ptrs(mm: usize): usize { return load<u32>(mm, 4); }
// @ts-ignore: decorator
@inline export function top_count(mm: usize): i32 { return load<i32>(mm, 8); }
// @ts-ignore: decorator
@inline export function top_cap(mm: usize): i32 { return load<i32>(mm, 12); }
// @ts-ignore: decorator
@inline export function top_key(mm: usize, i: i32): u64 { return load<u64>(top_keys(mm) + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline export function top_set_key(mm: usize, i: i32, k: u64): void { store<u64>(top_keys(mm) + (<usize>i << 3), k); }
// @ts-ignore: decorator
@inline export function top_node(mm: usize, i: i32): usize { return load<u32>(top_ptrs(mm) + (<usize>i << 2)); }

/** How many of mm's tn (> 0) top keys are at or below page: a branchless lower bound (the top array is small and hot). */
// @ts-ignore: decorator
@inline export function top_search(mm: usize, tn: i32, page: u64): i32 {
  const keys = top_keys(mm);
  let base: usize = 0;
  let len: usize = <usize>tn;
  while (len > 1) {
    const half = len >> 1;
    base = select<usize>(base + half, base, load<u64>(keys + ((base + half - 1) << 3)) <= page);
    len -= half;
  }
  return <i32>base + <i32>(load<u64>(keys + (base << 3)) <= page);
}

/** top_search through the guide where it serves mm (top_guide.ts), else the binary search. */
// @ts-ignore: decorator
@inline export function top_find(mm: usize, tn: i32, page: u64): i32 {
  const ti = guide_serves(mm) ? guide_search(top_keys(mm), tn, page) : -1;
  return ti >= 0 ? ti : top_search(mm, tn, page);
}

export function top_insert(mm: usize, i: i32, c: usize, key: u64): void {
  const n = top_count(mm);
  const keys = top_keys(mm);
  const ptrs = top_ptrs(mm);
  memory.copy(keys + (<usize>(i + 1) << 3), keys + (<usize>i << 3), <usize>(n - i) << 3);
  memory.copy(ptrs + (<usize>(i + 1) << 2), ptrs + (<usize>i << 2), <usize>(n - i) << 2);
  store<u64>(keys + (<usize>i << 3), key);
  store<u32>(ptrs + (<usize>i << 2), <u32>c);
  store<i32>(mm, n + 1, 8);
  guide_invalidate();
}

export function top_remove(mm: usize, i: i32): void {
  const n = top_count(mm);
  const keys = top_keys(mm);
  const ptrs = top_ptrs(mm);
  memory.copy(keys + (<usize>i << 3), keys + (<usize>(i + 1) << 3), <usize>(n - i - 1) << 3);
  memory.copy(ptrs + (<usize>i << 2), ptrs + (<usize>(i + 1) << 2), <usize>(n - i - 1) << 2);
  store<i32>(mm, n - 1, 8);
  guide_invalidate();
}

/** tree_reserve()'s top array too small for n more entries: a bigger one (false, nothing changed, if memory is exhausted). */
export function tree_reserve_top(mm: usize, n: i32): bool {
  const want = top_count(mm) + n;
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
