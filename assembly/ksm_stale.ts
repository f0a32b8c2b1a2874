// Stale nodes a stable-tree search can get past (Wasm engine only: the
// reference engine always walks, and no result depends on this).
//
// A walk that meets a stale node drops it and starts again (ksm_stable.ts),
// so while the stable tree holds a stale node, stable_tree_search() cannot
// simply be a content lookup. But a search for content c meets node S only
// if c lies strictly between the contents of S's nearest ancestors on
// either side (the bounds of S's subtree, in memcmp order). So while the
// tree has no chain and its stale regular nodes are all listed here
// (STALE_MAX), a search whose content lies outside every listed node's
// bounds meets none of them, has no side effect, and the content index
// answers it. The bounds (walks from the root) are merged into a sorted
// union of disjoint ranges, searched by bisection; it is recomputed when a
// node is listed or unlisted or the tree's shape changes (every link,
// erase or replace in the stable tree), but only once as many searches as
// there are listed nodes have walked since it went stale (so recomputing
// never costs much more than the walks it saves).
//
// Why: a content whose every copy was rewritten leaves its node stale until
// ksmd reaches one of that node's items, most of a pass away; with a stale
// node anywhere, every search would walk ~17 levels.

import { memcmp_pages, nd_content } from "./ksm_types";
import { rb_left, rb_right, rb_root_node } from "./rbtree";

/** How many stale nodes can be listed; beyond it, searches walk until none is left. */
const STALE_MAX: u32 = 4096;
const staleNode = memory.data(<i32>(STALE_MAX * 4), 16);
let listed: u32 = 0;
/** A stale node could not be listed: the list is incomplete until the tree has no stale node. */
let overflow = false;
/** The union of the listed nodes' bounds: disjoint inclusive ranges [lo, hi] of memcmp keys (key()), in order. */
const unionLo = memory.data(<i32>(STALE_MAX * 8), 16);
const unionHi = memory.data(<i32>(STALE_MAX * 8), 16);
let ranges: u32 = 0;
/** The union no longer matches the list or the tree (unionOutdated); searches that walked since then. */
let unionOutdated = true;
let walked: u32 = 0;

/** A content as a number whose order is memcmp's (the page holds the value's bytes from the least significant up). */
// @ts-ignore: decorator
@inline function key(c: u64): u64 {
  return bswap(c);
}

/** The stable tree's links changed (a node linked, erased or replaced). */
export function stale_shape_changed(): void {
  unionOutdated = true;
}

/** A regular node in the tree went stale. */
export function stale_add(node: usize): void {
  if (listed == STALE_MAX) {
    overflow = true;
    return;
  }
  store<u32>(staleNode + (<usize>listed << 2), <u32>node);
  listed++;
  unionOutdated = true;
}

/** A stale regular node left the tree; left is how many stale regular nodes it still has. */
export function stale_remove(node: usize, left: i64): void {
  unionOutdated = true;
  if (left == 0) {
    listed = 0;
    overflow = false;
    return;
  }
  for (let i: u32 = 0; i < listed; i++) {
    if (load<u32>(staleNode + (<usize>i << 2)) == <u32>node) {
      listed--;
      store<u32>(staleNode + (<usize>i << 2), load<u32>(staleNode + (<usize>listed << 2)));
      return;
    }
  }
}

/** Range i of the union becomes node's bounds as inclusive keys: the walk from the root (of the tree at root) to it. */
function node_range(root: usize, node: usize, i: u32): void {
  const c = nd_content(node);
  let lo: u64 = 0;
  let hi: u64 = u64.MAX_VALUE;
  let cur = rb_root_node(root);
  while (cur != 0 && cur != node) {
    const k = nd_content(cur);
    if (memcmp_pages(c, k) < 0) {
      hi = key(k) - 1;
      cur = rb_left(cur);
    } else {
      lo = key(k) + 1;
      cur = rb_right(cur);
    }
  }
  store<u64>(unionLo + (<usize>i << 3), lo);
  store<u64>(unionHi + (<usize>i << 3), hi);
}

/** Recompute the union: every listed node's range, sorted by start (insertion sort: few), overlaps merged. */
function union_build(root: usize): void {
  for (let i: u32 = 0; i < listed; i++) {
    node_range(root, <usize>load<u32>(staleNode + (<usize>i << 2)), i);
    // Insertion: move range i down to its place by start.
    const lo = load<u64>(unionLo + (<usize>i << 3));
    const hi = load<u64>(unionHi + (<usize>i << 3));
    let j = i;
    while (j > 0 && load<u64>(unionLo + (<usize>(j - 1) << 3)) > lo) {
      store<u64>(unionLo + (<usize>j << 3), load<u64>(unionLo + (<usize>(j - 1) << 3)));
      store<u64>(unionHi + (<usize>j << 3), load<u64>(unionHi + (<usize>(j - 1) << 3)));
      j--;
    }
    store<u64>(unionLo + (<usize>j << 3), lo);
    store<u64>(unionHi + (<usize>j << 3), hi);
  }
  // Merge: subtree ranges are nested or disjoint, so a range either starts past the last kept one or lies within reach of it.
  let n: u32 = 0;
  for (let i: u32 = 0; i < listed; i++) {
    const lo = load<u64>(unionLo + (<usize>i << 3));
    const hi = load<u64>(unionHi + (<usize>i << 3));
    if (n > 0 && lo <= load<u64>(unionHi + (<usize>(n - 1) << 3))) {
      if (hi > load<u64>(unionHi + (<usize>(n - 1) << 3))) store<u64>(unionHi + (<usize>(n - 1) << 3), hi);
    } else {
      store<u64>(unionLo + (<usize>n << 3), lo);
      store<u64>(unionHi + (<usize>n << 3), hi);
      n++;
    }
  }
  ranges = n;
  unionOutdated = false;
  walked = 0;
}

/**
 * A search for content c in the tree at root would meet no stale node
 * (with no chain in the tree, and every stale regular node listed); false
 * also when it cannot tell cheaply (the caller then walks).
 */
export function stale_off_path(root: usize, c: u64): bool {
  if (overflow) return false;
  if (unionOutdated) {
    if (walked < listed) {
      walked++;
      return false;
    }
    union_build(root);
  }
  // The last range starting at or below k, if any, must end below it.
  const k = key(c);
  let lo: u32 = 0;
  let hi: u32 = ranges;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u64>(unionLo + (<usize>mid << 3)) <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo == 0 || load<u64>(unionHi + (<usize>(lo - 1) << 3)) < k;
}
