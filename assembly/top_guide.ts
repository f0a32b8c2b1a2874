// A direct-mapped guide into one big tree's top array (tree.ts).
//
// warm.ts finds the inner node of every command of a group by searching
// the mm's top array: at a million VMAs ~1,000 sorted keys, a binary search
// of ten or eleven dependent steps (a second one measured +13 ns a random
// toggle, ~4%). The guide cuts the page range from the first key to the
// last into buckets, at least two per key, and holds for each bucket the
// first index whose key is at or above the bucket's first page: at or
// below the answer for any page in it. A search starts there and steps
// forward, most often once or not at all.
//
// It answers for one mm, and only while nothing has moved the top array's
// entries (tree.ts calls guide_invalidate on every insert into it and
// removal from it); a key that changed in place can leave a bucket's index
// past the answer, and every answer is checked (the key before it is at or
// below the page), so a wrong guide costs a binary search, never a wrong
// result. Building it takes a block of linear memory (4 bytes a bucket); if
// there is none, searches stay binary. Side by side at 1M VMAs: 330 -> 317
// ns a random toggle. test/conformance/engines.test.ts runs the big-space
// tests with the guide built for every tree (guide_tune), including the
// two ways a key changes in place under it.

import { block_alloc, block_free, pow2_bytes, pow2_class } from "./alloc";

/** Top arrays shorter than this are searched in a few steps anyway: no guide. */
let minEntries: i32 = 256;

let guideMm: usize = 0;
/** u32 per bucket, in a power-of-two block of guideBytes. */
let guide: usize = 0;
let guideBytes: usize = 0;
/** First page of bucket 0 (the first key), log2 of pages a bucket, buckets - 1. */
let guideBase: u64 = 0;
let guideShift: u64 = 0;
let guideMask: u64 = 0;
/**
 * Searches of big top arrays that the guide did not serve since it was last
 * built: (re)building costs a pass over the buckets (~4 us at a million
 * VMAs), so it waits for this many, and a workload that keeps moving top
 * entries, or alternates between two big trees, pays at most ~2 ns a search.
 */
let unguided: u32 = 0;
let buildAfter: u32 = 2048;

/** Test hook: the guide for top arrays of min entries or more, built after that many unguided searches (tests use small trees). */
export function guide_tune(min: i32, after: u32): void {
  minEntries = max(min, 1);
  buildAfter = max(after, 1);
  guideMm = 0;
  unguided = 0;
}

/** The top array has gained or lost an entry somewhere: the guide is rebuilt before its next use. */
export function guide_invalidate(): void {
  guideMm = 0;
}

/** Whether the guide serves mm's top array now. */
// @ts-ignore: decorator
@inline export function guide_serves(mm: usize): bool {
  return mm == guideMm;
}

/**
 * A search of mm's top array of tn keys is about to be made: if the guide
 * does not serve it, count it, and once enough have gone without, build
 * the guide for mm (guide_serves tells whether it then does).
 */
export function guide_consider(mm: usize, keys: usize, tn: i32): void {
  if (mm == guideMm || tn < minEntries || ++unguided < buildAfter) return;
  unguided = 0;
  guide_build(mm, keys, tn);
}

/** Build the guide for mm's tn (>= 1) sorted keys; none (guideMm 0) if memory is exhausted. */
function guide_build(mm: usize, keys: usize, tn: i32): void {
  guideMm = 0;
  let buckets: u64 = 1;
  while (buckets < <u64>(2 * tn)) buckets <<= 1;
  const bytes = <usize>buckets << 2;
  if (bytes > guideBytes) {
    const cls = pow2_class(bytes);
    const g = block_alloc(cls);
    if (g == 0) return;
    if (guide != 0) block_free(pow2_class(guideBytes), guide);
    guide = g;
    guideBytes = pow2_bytes(cls);
  }
  const base = load<u64>(keys);
  const span = load<u64>(keys + (<usize>(tn - 1) << 3)) - base;
  let shift: u64 = 0;
  while ((span >> shift) >= buckets) shift++;
  let i: i32 = 0;
  for (let b: u64 = 0; b < buckets; b++) {
    const first = base + (b << shift);
    while (i < tn && load<u64>(keys + (<usize>i << 3)) < first) i++;
    store<u32>(guide + (<usize>b << 2), <u32>i);
  }
  guideBase = base;
  guideShift = shift;
  guideMask = buckets - 1;
  guideMm = mm;
}

/**
 * How many of mm's tn top keys are at or below page, through the guide
 * (guide_serves(mm)); -1 if the guide cannot tell (a bucket's index past
 * the answer, or more than two steps before it): search another way. The
 * two steps forward are branch-free (a random page takes none, one or two
 * of them, which a branch would mispredict).
 */
// @ts-ignore: decorator
@inline export function guide_search(keys: usize, tn: i32, page: u64): i32 {
  let i: i32 = 0;
  if (page >= guideBase) {
    const b = (page - guideBase) >> guideShift;
    if (b > guideMask) return -1;
    i = <i32>load<u32>(guide + (<usize>b << 2));
    if (i > tn) return -1;
  }
  // Keys may have changed in place since the guide was built: the answer is checked either way.
  const last = tn - 1;
  i += <i32>(load<u64>(keys + (<usize>min(i, last) << 3)) <= page) & <i32>(i < tn);
  i += <i32>(load<u64>(keys + (<usize>min(i, last) << 3)) <= page) & <i32>(i < tn);
  if (i < tn && load<u64>(keys + (<usize>i << 3)) <= page) return -1;
  if (i > 0 && load<u64>(keys + (<usize>(i - 1) << 3)) > page) return -1;
  return i;
}
