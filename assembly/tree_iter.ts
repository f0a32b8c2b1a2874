// Whole-tree iteration of an mm's index (tree.ts) in address order, for
// fork and prctl.

import { n_count, n_ptr } from "./tree_node";
import { top_count, top_node } from "./tree_top";

// Its own position, so that the iterated tree may be searched meanwhile and
// other trees changed; the iterated tree itself must not change.
let itMm: usize = 0;
let itTi: i32 = 0;
let itInner: usize = 0;
let itIi: i32 = 0;
let itLeaf: usize = 0;
let itLi: i32 = 0;

/** The first VMA of mm in address order (0 if none); tree_iter_next() continues. */
export function tree_iter_first(mm: usize): usize {
  itMm = mm;
  if (top_count(mm) == 0) return 0;
  itTi = 0;
  itInner = top_node(mm, 0);
  itIi = 0;
  itLeaf = n_ptr(itInner, 0);
  itLi = 0;
  return n_ptr(itLeaf, 0);
}

/** The VMA after the previous one tree_iter_first/tree_iter_next returned, or 0 at the end. */
export function tree_iter_next(): usize {
  if (++itLi < n_count(itLeaf)) return n_ptr(itLeaf, itLi);
  itLi = 0;
  if (++itIi >= n_count(itInner)) {
    if (++itTi >= top_count(itMm)) return 0;
    itInner = top_node(itMm, itTi);
    itIi = 0;
  }
  itLeaf = n_ptr(itInner, itIi);
  return n_ptr(itLeaf, 0);
}
