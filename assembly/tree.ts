// The VMA index of one mm, mirroring bindings/reference/tree.ts: find_vma(),
// vma_prev/vma_next, insert and erase, in O(log n). A B+tree of fixed height
// keyed on vm_end (which is unique): the mm's top array (sorted keys, each
// the largest end under one inner node), inner nodes and leaves. A node is
// one cache-line-aligned 512-byte block: CHUNK_CAP sorted keys (each the
// exact largest end in its subtree; a VMA's own end in a leaf; NO_KEY in
// unused slots), then the child or VMA pointers, then the count.
//
// Lookups are latency bound (at a million VMAs a random lookup's leaf and
// record are cache misses), so: a node is searched with two rounds of
// independent loads (the last key of each of its five key lines, then the
// eight keys of one line) instead of a binary search's chain of dependent
// probes; a search from the top touches the leaf's pointer lines and the
// records around the found position, so that their misses overlap with
// each other instead of queueing one after the other; and a cursor keeps
// the last position, since a syscall works in one neighbourhood (locating a
// VMA the syscall just had in hand is a pointer compare).
//
// A VMA's end changes through tree_set_end() so that its key follows; its
// start may change freely as long as VMAs stay ordered and disjoint. Nodes
// are freed when they empty (no merging of sparse nodes, as before); a node
// that fills up at the end of the address space is left full (address-order
// builds pack densely), elsewhere it splits in half.
//
// The nodes themselves are tree_node.ts, the top array tree_top.ts (with
// top_guide.ts), whole-tree iteration tree_iter.ts.

import { CLASS_CHUNK, block_free, block_reserve } from "./alloc";
import { mm_map_count, mm_set_map_count, vma_end, vma_raw_set_end, vma_start } from "./mm_types";
import { guide_consider } from "./top_guide";
import {
  CHUNK_CAP, COUNT, HALF, PTRS, count_le, n_count, n_key, n_ptr, n_set_key, node_insert, node_new, node_remove, node_split,
} from "./tree_node";
import { top_cap, top_count, top_find, top_insert, top_key, top_keys, top_node, top_remove, top_set_key, tree_reserve_top } from "./tree_top";

// ---- the cursor ----------------------------------------------------------------
// A position in the tree of curMm (0: none): top index, inner node and the
// index in it, leaf and the index in it. curLi may equal the leaf's count:
// past the leaf's last entry (only kept for the last leaf, as "no VMA above").
let curMm: usize = 0;
let curTi: i32 = 0;
let curInner: usize = 0;
let curIi: i32 = 0;
let curLeaf: usize = 0;
let curLi: i32 = 0;
/**
 * Bumped by every insert, erase and end change in any mm: while it holds
 * still, the VMA find() returned for a page is still find()'s answer for
 * any later page below that VMA's end (ksmd's scan keeps its VMA so).
 */
export let treeGen: u32 = 0;
/**
 * Bumped whenever any tree's shape changes (a node added or freed, an entry
 * added to or removed from an inner node or a top array): while it holds
 * still, a path (top index, inner node, index in it, leaf) stays a path.
 */
let treeShape: u32 = 0;
/** Loads that warm the neighbours' records land here (so that they are not optimized away). */
let sink: u32 = 0;

/** The largest key below the cursor's leaf (0 for the first leaf). */
function leaf_floor(mm: usize): u64 {
  if (curIi > 0) return n_key(curInner, curIi - 1);
  if (curTi > 0) return top_key(mm, curTi - 1);
  return 0;
}

// @ts-ignore: decorator
@inline function is_last_leaf(mm: usize): bool {
  return curIi == n_count(curInner) - 1 && curTi == top_count(mm) - 1;
}

/**
 * Search from the top: the cursor at the first key above page (past the end
 * if none); curMm = 0 if the tree is empty.
 */
function seek_full(mm: usize, page: u64): void {
  const tn = top_count(mm);
  if (tn == 0) {
    curMm = 0;
    return;
  }
  let ti = top_find(mm, tn, page);
  curMm = mm;
  if (ti == tn) {
    ti = tn - 1;
    const inner = top_node(mm, ti);
    const ii = n_count(inner) - 1;
    const leaf = n_ptr(inner, ii);
    curTi = ti;
    curInner = inner;
    curIi = ii;
    curLeaf = leaf;
    curLi = n_count(leaf);
    return;
  }
  const inner = top_node(mm, ti);
  const ii = count_le(inner, page);
  const leaf = n_ptr(inner, ii);
  // Start the pointer lines' misses along with the keys' (the node is 8 cache lines).
  sink ^= load<u32>(leaf + PTRS) ^ load<u32>(leaf + PTRS + 64) ^ load<u32>(leaf + COUNT);
  const li = count_le(leaf, page);
  curTi = ti;
  curInner = inner;
  curIi = ii;
  curLeaf = leaf;
  curLi = li;
  // Touch the records at and around the position (a syscall reads them
  // next): their cache misses then overlap instead of queueing.
  if (li < n_count(leaf)) {
    let t = load<u32>(n_ptr(leaf, li));
    if (li > 0) {
      const p = n_ptr(leaf, li - 1);
      t ^= load<u32>(p);
    }
    const n = n_count(leaf);
    if (li + 1 < n) {
      const p = n_ptr(leaf, li + 1);
      t ^= load<u32>(p);
    }
    sink ^= t;
  }
}

/** The cursor at the first key above page (see seek_full), from the cursor's leaf when page falls in it. */
function seek(mm: usize, page: u64): void {
  if (mm == curMm) {
    const leaf = curLeaf;
    const li = curLi;
    const n = n_count(leaf);
    if (li < n) {
      // At the cursor, or at the entry after it (a syscall moving on to the next VMA).
      if (n_key(leaf, li) > page) {
        if ((li > 0 ? n_key(leaf, li - 1) : leaf_floor(mm)) <= page) return;
      } else if (li + 1 < n && n_key(leaf, li + 1) > page) {
        curLi = li + 1;
        return;
      }
    }
    if (leaf_floor(mm) <= page && (page < n_key(curInner, curIi) || is_last_leaf(mm))) {
      curLi = count_le(leaf, page);
      return;
    }
    if (seek_sibling(mm, page)) return;
  }
  seek_full(mm, page);
}

/**
 * The cursor onto the leaf before or after its own in the same inner node,
 * if page is there (a syscall stepping to the VMA across a leaf boundary,
 * e.g. merging with the previous leaf's last VMA): no search from the top.
 */
function seek_sibling(mm: usize, page: u64): bool {
  const inner = curInner;
  const ii = curIi;
  let j: i32;
  if (page >= n_key(inner, ii)) {
    j = ii + 1;
    const last = n_count(inner) - 1;
    if (j > last || (page >= n_key(inner, j) && !(j == last && curTi == top_count(mm) - 1))) return false;
  } else {
    if (ii == 0) return false;
    j = ii - 1;
    const floor = j > 0 ? n_key(inner, j - 1) : curTi > 0 ? top_key(mm, curTi - 1) : 0;
    if (page < floor) return false;
  }
  const leaf = n_ptr(inner, j);
  curIi = j;
  curLeaf = leaf;
  curLi = count_le(leaf, page);
  return true;
}

/** The VMA at the cursor, or 0 past the end. */
// @ts-ignore: decorator
@inline function cur_vma(): usize {
  return curMm != 0 && curLi < n_count(curLeaf) ? n_ptr(curLeaf, curLi) : 0;
}

/** The VMA before the cursor, or 0 at the start. */
function cur_prev(mm: usize): usize {
  if (curLi > 0) return n_ptr(curLeaf, curLi - 1);
  let leaf: usize;
  if (curIi > 0) {
    leaf = n_ptr(curInner, curIi - 1);
  } else if (curTi > 0) {
    const inner = top_node(mm, curTi - 1);
    leaf = n_ptr(inner, n_count(inner) - 1);
  } else {
    return 0;
  }
  return n_ptr(leaf, n_count(leaf) - 1);
}

/** The VMA after the cursor's (which must be on a VMA), or 0 at the end. */
function cur_next(mm: usize): usize {
  if (curLi + 1 < n_count(curLeaf)) return n_ptr(curLeaf, curLi + 1);
  if (curIi + 1 < n_count(curInner)) return n_ptr(n_ptr(curInner, curIi + 1), 0);
  if (curTi + 1 < top_count(mm)) return n_ptr(n_ptr(top_node(mm, curTi + 1), 0), 0);
  return 0;
}

/** find_vma(): the first VMA with end > page, or 0. */
export function tree_find(mm: usize, page: u64): usize {
  seek(mm, page);
  return cur_vma();
}

/** vma_lookup(): the VMA containing page, or 0. */
export function tree_lookup(mm: usize, page: u64): usize {
  const v = tree_find(mm, page);
  return v != 0 && vma_start(v) <= page ? v : 0;
}

/** The cursor on v (which must be in the tree; its key is its current end). */
function locate(mm: usize, v: usize): void {
  if (mm == curMm) {
    const leaf = curLeaf;
    const li = curLi;
    const n = n_count(leaf);
    if (li < n && n_ptr(leaf, li) == v) return;
    if (li > 0 && n_ptr(leaf, li - 1) == v) {
      curLi = li - 1;
      return;
    }
    if (li + 1 < n && n_ptr(leaf, li + 1) == v) {
      curLi = li + 1;
      return;
    }
  }
  seek(mm, vma_end(v) - 1);
  if (cur_vma() != v) abort("vmasim internal error: VMA not in tree");
}

export function tree_next(mm: usize, v: usize): usize {
  locate(mm, v);
  return cur_next(mm);
}

export function tree_prev(mm: usize, v: usize): usize {
  locate(mm, v);
  return cur_prev(mm);
}

/** The last VMA with start < page, or 0. */
export function tree_find_prev(mm: usize, page: u64): usize {
  seek(mm, page);
  if (curMm == 0) return 0;
  const v = cur_vma();
  if (v != 0 && vma_start(v) < page) return v;
  return cur_prev(mm);
}

/** The cursor's leaf's largest key changed to key: keep the inner node's and the top array's copies exact. */
function leaf_max_changed(mm: usize, key: u64): void {
  n_set_key(curInner, curIi, key);
  if (curIi == n_count(curInner) - 1) top_set_key(mm, curTi, key);
}

/**
 * Room for n more inserts: two nodes each (a leaf split can split an inner
 * node) and n more top-array entries; false if memory is exhausted. Inline
 * (every syscall that may split reserves): the common case is two loads
 * and compares; tree_reserve_top() grows the top array.
 */
// @ts-ignore: decorator
@inline export function tree_reserve(mm: usize, n: i32): bool {
  return block_reserve(CLASS_CHUNK, <u32>(2 * n)) && (top_count(mm) + n <= top_cap(mm) || tree_reserve_top(mm, n));
}

/** Room for n VMAs appended to an empty mm in address order (fork): nodes and the top array. */
export function tree_reserve_build(mm: usize, n: i32): bool {
  const leaves = (n + CHUNK_CAP - 1) / CHUNK_CAP;
  const inners = (leaves + CHUNK_CAP - 1) / CHUNK_CAP;
  return block_reserve(CLASS_CHUNK, <u32>(leaves + inners + 2)) && tree_reserve(mm, inners + 1);
}

/**
 * Add leaf (key: its largest) at index ii of the cursor's inner node,
 * splitting that node if full; invalidates the cursor.
 */
function inner_add(mm: usize, ii: i32, leaf: usize, key: u64): void {
  treeShape++;
  let inner = curInner;
  let ti = curTi;
  let i = ii;
  curMm = 0;
  if (n_count(inner) == CHUNK_CAP) {
    if (i == CHUNK_CAP && ti == top_count(mm) - 1) {
      // Appending at the very end: a new inner node, this one kept full.
      const fresh = node_new();
      node_insert(fresh, 0, key, leaf);
      top_insert(mm, ti + 1, fresh, key);
      return;
    }
    const right = node_split(inner);
    top_set_key(mm, ti, n_key(inner, HALF - 1));
    top_insert(mm, ti + 1, right, n_key(right, CHUNK_CAP - HALF - 1));
    if (i > HALF) {
      inner = right;
      i -= HALF;
      ti++;
    }
  }
  node_insert(inner, i, key, leaf);
  if (i == n_count(inner) - 1) top_set_key(mm, ti, key);
}

/** Insert v (not yet in the index); the caller has reserved with tree_reserve. */
export function tree_insert(mm: usize, v: usize): void {
  treeGen++;
  mm_set_map_count(mm, mm_map_count(mm) + 1);
  const key = vma_end(v);
  if (top_count(mm) == 0) {
    treeShape++;
    const leaf = node_new();
    const inner = node_new();
    node_insert(leaf, 0, key, v);
    node_insert(inner, 0, key, leaf);
    top_insert(mm, 0, inner, key);
    curMm = 0;
    return;
  }
  const start = vma_start(v);
  seek(mm, start);
  if (n_count(curLeaf) == CHUNK_CAP) {
    if (curLi == CHUNK_CAP && is_last_leaf(mm)) {
      // Appending at the very end: a new leaf, this one kept full (address-order builds pack densely).
      const fresh = node_new();
      node_insert(fresh, 0, key, v);
      inner_add(mm, curIi + 1, fresh, key);
      return;
    }
    const leaf = curLeaf;
    const right = node_split(leaf);
    leaf_max_changed(mm, n_key(leaf, HALF - 1));
    inner_add(mm, curIi + 1, right, n_key(right, CHUNK_CAP - HALF - 1));
    seek_full(mm, start);
  }
  const leaf = curLeaf;
  const li = curLi;
  node_insert(leaf, li, key, v);
  if (li == n_count(leaf) - 1) leaf_max_changed(mm, key);
}

/** Erase v from the index (the VMA record itself stays; the caller frees it). */
export function tree_remove(mm: usize, v: usize): void {
  treeGen++;
  locate(mm, v);
  mm_set_map_count(mm, mm_map_count(mm) - 1);
  const leaf = curLeaf;
  const li = curLi;
  const n = n_count(leaf);
  if (n > 1) {
    node_remove(leaf, li);
    if (li == n - 1) leaf_max_changed(mm, n_key(leaf, n - 2));
    return;
  }
  // The leaf empties: drop it from its inner node, and that from the top array if it empties too.
  treeShape++;
  block_free(CLASS_CHUNK, leaf);
  const inner = curInner;
  const ii = curIi;
  const m = n_count(inner);
  curMm = 0;
  if (m > 1) {
    node_remove(inner, ii);
    if (ii == m - 1) top_set_key(mm, curTi, n_key(inner, m - 2));
    return;
  }
  block_free(CLASS_CHUNK, inner);
  top_remove(mm, curTi);
}

/** Change v's end, keeping its index key in step. */
export function tree_set_end(mm: usize, v: usize, end: u64): void {
  treeGen++;
  locate(mm, v);
  n_set_key(curLeaf, curLi, end);
  if (curLi == n_count(curLeaf) - 1) leaf_max_changed(mm, end);
  vma_raw_set_end(v, end);
}

// ---- what warm.ts needs to warm a batch's paths --------------------------------------

/** The index in mm's top array of the inner node find() would pass through for page, or -1 (reads the top array, which is hot). */
export function tree_top_index(mm: usize, page: u64): i32 {
  const tn = top_count(mm);
  if (tn == 0) return -1;
  guide_consider(mm, top_keys(mm), tn);
  const ti = top_find(mm, tn, page);
  return ti == tn ? -1 : ti;
}

/** The inner node at index ti of mm's top array. */
export function tree_top_node(mm: usize, ti: i32): usize {
  return top_node(mm, ti);
}

/** The index of the child of node c that find() would pass through for page. */
export function tree_child_index(c: usize, page: u64): i32 {
  return count_le(c, page);
}

/** Child i of node c. */
export function tree_child(c: usize, i: i32): usize {
  return n_ptr(c, i);
}

/**
 * Put the cursor on a path that warm.ts found for a command (top index ti,
 * index ii in that inner node, leaf, index li in the leaf) if the leaf is
 * still child ii of inner node ti (an earlier command may have split or
 * freed nodes since): the command's first search then starts from the leaf
 * instead of the top. Any real path is a valid cursor, so results never
 * depend on it. If no tree's shape has changed since the path was found
 * (shape == treeShape), it is still a path and the check, three loads from
 * lines long evicted, is skipped.
 */
export function tree_hint(mm: usize, ti: i32, ii: i32, inner: usize, leaf: usize, li: i32, shape: u32): void {
  // The tree's shape has changed since the path was found: check it is still one.
  if (shape != treeShape && (ti < 0 || ti >= top_count(mm) || top_node(mm, ti) != inner || ii >= n_count(inner) || n_ptr(inner, ii) != leaf)) return;
  curMm = mm;
  curTi = ti;
  curInner = inner;
  curIi = ii;
  curLeaf = leaf;
  // The index found then; seek() checks it against the keys before trusting it.
  curLi = li >= 0 && li <= n_count(leaf) ? li : 0;
}

/** The shape's generation now (see treeShape), for tree_hint. */
export function tree_shape(): u32 {
  return treeShape;
}

/** Load a word of each of node c's key lines and of its pointers and count. */
// @ts-ignore: decorator
@inline export function tree_warm_node(c: usize): u32 {
  return load<u32>(c) ^ load<u32>(c, 64) ^ load<u32>(c, 128) ^ load<u32>(c, 192) ^ load<u32>(c, 256) ^
    load<u32>(c + PTRS) ^ load<u32>(c + PTRS + 64) ^ load<u32>(c + COUNT);
}

/**
 * The records at and around page's position in leaf (whose lines are warm):
 * the one found and its two neighbours (a merge reads all three), into
 * out[0..2] (0 where none). Not the one after: a syscall stops at its
 * range's end without reading it, and warming it cost more than it saved.
 */
export function tree_records_near(leaf: usize, page: u64, out: usize): i32 {
  const li = count_le(leaf, page);
  const n = n_count(leaf);
  store<u32>(out, li < n ? <u32>n_ptr(leaf, li) : 0);
  store<u32>(out, li > 0 ? <u32>n_ptr(leaf, li - 1) : 0, 4);
  store<u32>(out, li + 1 < n ? <u32>n_ptr(leaf, li + 1) : 0, 8);
  return li;
}
