// The index's nodes (tree.ts): one cache-line-aligned 512-byte block each,
// leaf or inner alike: CHUNK_CAP sorted keys (each the exact largest end in
// its subtree; a VMA's own end in a leaf; NO_KEY in unused slots), then the
// child or VMA pointers, then the count. The accessors, the search of one
// node, and moving entries within and between nodes.

import { CLASS_CHUNK, block_alloc } from "./alloc";

/** Entries per node (leaf or inner): whole cache lines of keys (a multiple of LINE_KEYS). */
export const CHUNK_CAP: i32 = 40;
const LINE_KEYS: i32 = 8;
const KEY_LINES: i32 = CHUNK_CAP / LINE_KEYS;
export const PTRS: usize = <usize>CHUNK_CAP * 8;
export const COUNT: usize = PTRS + <usize>CHUNK_CAP * 4;
/** Bytes of a node (alloc.ts rounds CLASS_CHUNK blocks up to whole cache lines and aligns them). */
export const CHUNK_SIZE: usize = COUNT + 4;
export const HALF: i32 = CHUNK_CAP >> 1;
/** The key of an unused slot: above every page, so that searches need not look at the count. */
const NO_KEY: u64 = u64.MAX_VALUE;

// ---- nodes: keys u64[CHUNK_CAP] (unused ones NO_KEY), pointers u32[CHUNK_CAP], count ----
// @ts-ignore: decorator
@inline export function n_count(c: usize): i32 { return load<i32>(c + COUNT); }
// @ts-ignore: decorator
@inline function n_set_count(c: usize, n: i32): void { store<i32>(c + COUNT, n); }
// @ts-ignore: decorator
@inline export function n_key(c: usize, i: i32): u64 { return load<u64>(c + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline export function n_set_key(c: usize, i: i32, k: u64): void { store<u64>(c + (<usize>i << 3), k); }
// @ts-ignore: decorator
@inline export function n_ptr(c: usize, i: i32): usize { return load<u32>(c + PTRS + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function n_set_ptr(c: usize, i: i32, p: usize): void { store<u32>(c + PTRS + (<usize>i << 2), <u32>p); }

/**
 * How many of node c's keys are at or below page: the index of the first key
 * above it. First the last key of every line (independent loads: a cold node
 * costs one round trip), then the keys of the line found.
 */
// @ts-ignore: decorator
@inline export function count_le(c: usize, page: u64): i32 {
  let b: i32 = 0;
  if (KEY_LINES == 5) {
    b = <i32>(load<u64>(c, 56) <= page) + <i32>(load<u64>(c, 120) <= page) + <i32>(load<u64>(c, 184) <= page) +
      <i32>(load<u64>(c, 248) <= page) + <i32>(load<u64>(c, 312) <= page);
  } else {
    for (let j: i32 = 0; j < KEY_LINES; j++) {
      b += <i32>(load<u64>(c + (<usize>(j * LINE_KEYS + LINE_KEYS - 1) << 3)) <= page);
    }
  }
  if (b == KEY_LINES) return CHUNK_CAP;
  const l = c + (<usize>b << 6);
  return (b << 3) + <i32>(load<u64>(l, 0) <= page) + <i32>(load<u64>(l, 8) <= page) + <i32>(load<u64>(l, 16) <= page) +
    <i32>(load<u64>(l, 24) <= page) + <i32>(load<u64>(l, 32) <= page) + <i32>(load<u64>(l, 40) <= page) +
    <i32>(load<u64>(l, 48) <= page) + <i32>(load<u64>(l, 56) <= page);
}

/** A new empty node (reserved beforehand). */
export function node_new(): usize {
  const c = block_alloc(CLASS_CHUNK);
  memory.fill(c, 0xff, PTRS);
  return c;
}

/**
 * Insert key and p at index i of node c (not full). The entries above move
 * up one at a time: a few words, where V8's memory.copy is a call out to
 * memmove (its share of a random toggle at 1M VMAs was ~4%).
 */
export function node_insert(c: usize, i: i32, key: u64, p: usize): void {
  const n = n_count(c);
  for (let j = n - 1; j >= i; j--) {
    n_set_key(c, j + 1, n_key(c, j));
    n_set_ptr(c, j + 1, n_ptr(c, j));
  }
  n_set_key(c, i, key);
  n_set_ptr(c, i, p);
  n_set_count(c, n + 1);
}

/** Remove entry i of node c (the entries above move down, as in node_insert). */
export function node_remove(c: usize, i: i32): void {
  const n = n_count(c);
  for (let j = i; j < n - 1; j++) {
    n_set_key(c, j, n_key(c, j + 1));
    n_set_ptr(c, j, n_ptr(c, j + 1));
  }
  n_set_key(c, n - 1, NO_KEY);
  n_set_count(c, n - 1);
}

/** Move the upper half of full node c into a new node (reserved beforehand); returns it. */
export function node_split(c: usize): usize {
  const right = node_new();
  memory.copy(right, c + (<usize>HALF << 3), <usize>(CHUNK_CAP - HALF) << 3);
  memory.copy(right + PTRS, c + PTRS + (<usize>HALF << 2), <usize>(CHUNK_CAP - HALF) << 2);
  memory.fill(c + (<usize>HALF << 3), 0xff, <usize>(CHUNK_CAP - HALF) << 3);
  n_set_count(right, CHUNK_CAP - HALF);
  n_set_count(c, HALF);
  return right;
}
