// The stable tree's regular nodes by content (Wasm engine only: the
// reference engine always walks, and no result depends on this index).
//
// With no chain and no stale node in the stable tree, a walk has no side
// effects (nothing to prune, collapse or drop) and regular nodes have
// distinct contents, so stable_tree_search() is exactly a lookup of the
// content: an open-addressing table (content u64, node u32, pad) kept in
// step with the tree's regular nodes answers it in O(1). Otherwise the walk
// runs. If a table cannot be allocated, the walk always runs.

import { block_alloc, block_free, pow2_class } from "./alloc";
import { nd_content } from "./ksm_types";

let memo: usize = 0;
let memoCap: u32 = 0;
let memoCount: u32 = 0;
/** False once a table could not be allocated: walks from then on. */
export let memoOk = true;

// @ts-ignore: decorator
@inline function memo_slot(c: u64, mask: u32): u32 {
  return <u32>((c * 0x9e3779b97f4a7c15) >> 40) & mask;
}

/** The regular node of the stable tree holding content c, or 0. */
export function memo_get(c: u64): usize {
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
export function memo_add(node: usize): void {
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
export function memo_remove(node: usize): void {
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
