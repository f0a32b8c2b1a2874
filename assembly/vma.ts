// The VMA merge engine, mirroring bindings/reference/vma.ts (mm/vma.c):
// the rules that decide whether a new or modified range can merge with its
// neighbours, and the split/expand primitives. Page numbers throughout.

import {
  ENOMEM, SW_ANON_VMA_SOURCE_RULE, SW_COPIED_FROM_FORK_CHECK, SW_STICKY_FLAGS, VM_MAYBE_GUARD, VM_SOFTDIRTY, VM_SPECIAL, VM_STICKY,
} from "./generated/facts";
import { maxMapCount, sw } from "./kernel";
import {
  mm_map_count, vma_anon, vma_chain, vma_dup, vma_end, vma_file, vma_flags, vma_free, vma_pages, vma_pgoff,
  vma_raw_set_end, vma_raw_set_start, vma_set_anon, vma_set_chain, vma_set_flags, vma_set_pgoff, vma_start,
} from "./mm_types";
import { tree_insert, tree_next, tree_remove, tree_set_end } from "./tree";

/** Flags that never prevent a merge (mm.h VM_IGNORE_MERGE). */
const VM_IGNORE_MERGE: u32 = VM_SOFTDIRTY | VM_MAYBE_GUARD;

/**
 * struct vma_merge_struct. Unmanaged (a plain struct in linear memory): the
 * engine has one, in static data, since it is single-threaded.
 */
@unmanaged
export class Vmg {
  mm: usize;
  prev: usize;
  middle: usize;
  next: usize;
  start: u64;
  end: u64;
  pgoff: u64;
  flags: u32;
  file: u32;
  anon: u32;
  copiedFrom: usize;
  justExpand: bool;
}

export const vmg = changetype<Vmg>(memory.data(offsetof<Vmg>(), 8));

/** Reset vmg for a new range (vmgNew in the reference). */
export function vmg_new(mm: usize, start: u64, end: u64, pgoff: u64, flags: u32, file: u32): Vmg {
  vmg.mm = mm;
  vmg.prev = 0;
  vmg.middle = 0;
  vmg.next = 0;
  vmg.start = start;
  vmg.end = end;
  vmg.pgoff = pgoff;
  vmg.flags = flags;
  vmg.file = file;
  vmg.anon = 0;
  vmg.copiedFrom = 0;
  vmg.justExpand = false;
  return vmg;
}

/** A VMA that received its anon_vma through fork keeps a chain longer than one (vma_is_fork_child). */
export function vma_is_fork_child(v: usize): bool {
  return v != 0 && vma_anon(v) != 0 && vma_chain(v) != 1;
}

/** Flags (less the ignored ones) and file must match for two VMAs to become one. */
function is_mergeable_vma(g: Vmg, mergeNext: bool): bool {
  const v = mergeNext ? g.next : g.prev;
  return ((vma_flags(v) ^ g.flags) & ~VM_IGNORE_MERGE) == 0 && vma_file(v) == g.file;
}

/** The anon_vma rule (see the reference engine for the three cases). */
function is_mergeable_anon_vma(g: Vmg, mergeNext: bool): bool {
  const tgt = mergeNext ? g.next : g.prev;
  const src = g.anon;
  const tgtAnon = vma_anon(tgt);
  if (!sw(SW_ANON_VMA_SOURCE_RULE)) {
    return ((src == 0 || tgtAnon == 0) && vma_chain(tgt) == 1) || src == tgtAnon;
  }
  if (tgtAnon == 0 && src != 0) {
    if (vma_is_fork_child(g.middle)) return false;
    if (sw(SW_COPIED_FROM_FORK_CHECK) && vma_is_fork_child(g.copiedFrom)) return false;
    return true;
  }
  if (tgtAnon != 0 && src == 0) return !vma_is_fork_child(tgt);
  return tgtAnon == src;
}

/** Merging prev and next into one needs their anon_vmas to agree (or one to be absent). */
function are_anon_vmas_compatible(prev: usize, next: usize): bool {
  return vma_anon(prev) == 0 || vma_anon(next) == 0 || vma_anon(prev) == vma_anon(next);
}

function can_vma_merge_before(g: Vmg): bool {
  return is_mergeable_vma(g, true) && is_mergeable_anon_vma(g, true) && vma_pgoff(g.next) == g.pgoff + (g.end - g.start);
}

function can_vma_merge_after(g: Vmg): bool {
  const prev = g.prev;
  return is_mergeable_vma(g, false) && is_mergeable_anon_vma(g, false) && vma_pgoff(prev) + vma_pages(prev) == g.pgoff;
}

function can_vma_merge_left(g: Vmg): bool {
  return g.prev != 0 && vma_end(g.prev) == g.start && can_vma_merge_after(g);
}

function can_vma_merge_right(g: Vmg, canMergeLeft: bool): bool {
  const next = g.next;
  if (next == 0 || g.end != vma_start(next) || !can_vma_merge_before(g)) return false;
  return !canMergeLeft || are_anon_vmas_compatible(g.prev, next);
}

/** Give dst the anon_vma of src (anon_vma_clone) if dst has none yet. */
export function dup_anon_vma(dst: usize, src: usize): void {
  if (src != 0 && vma_anon(src) != 0 && vma_anon(dst) == 0) {
    vma_set_anon(dst, vma_anon(src));
    vma_set_chain(dst, vma_chain(src));
  }
}

/** Sticky flags survive a merge from whichever participant had them. */
function vma_merge_sticky(survivor: usize, flags: u32): void {
  if (sw(SW_STICKY_FLAGS)) vma_set_flags(survivor, vma_flags(survivor) | (flags & VM_STICKY));
}

/** The flags a modified range ends up with: the requested ones plus sticky ones brought in by a merge. */
export function vma_modified_flags(v: usize, newFlags: u32): u32 {
  return sw(SW_STICKY_FLAGS) ? newFlags | (vma_flags(v) & VM_STICKY) : newFlags;
}

/** Grow target to [start, end) with pgoff, removing next if swallowed (vma_expand()). */
function vma_expand(g: Vmg, target: usize, start: u64, end: u64, pgoff: u64): void {
  const next = g.next;
  const removeNext = next != 0 && target != next && end == vma_end(next);
  vma_merge_sticky(target, g.flags | (removeNext ? vma_flags(next) : 0));
  if (removeNext) dup_anon_vma(target, next);
  if (g.copiedFrom != 0) dup_anon_vma(target, g.copiedFrom);
  if (removeNext) tree_remove(g.mm, next);
  vma_raw_set_start(target, start);
  tree_set_end(g.mm, target, end);
  vma_set_pgoff(target, pgoff);
  if (removeNext) vma_free(next);
}

/** Try to merge a new range with prev and/or next (vma_merge_new_range()); 0 if none. */
export function vma_merge_new_range(g: Vmg): usize {
  const prev = g.prev;
  const next = g.next;
  if ((g.flags & VM_SPECIAL) != 0 || (prev == 0 && next == 0)) return 0;
  const canMergeLeft = can_vma_merge_left(g);
  const canMergeRight = !g.justExpand && can_vma_merge_right(g, canMergeLeft);
  let start = g.start;
  let end = g.end;
  let pgoff = g.pgoff;
  let target: usize = 0;
  if (canMergeRight) {
    end = vma_end(next);
    target = next;
  }
  if (canMergeLeft) {
    start = vma_start(prev);
    pgoff = vma_pgoff(prev);
    target = prev;
  }
  if (target == 0) return 0;
  vma_expand(g, target, start, end, pgoff);
  return target;
}

/**
 * Before 6.12 (SW_MMAP_EXPAND_NEXT_FIRST): mmap_region()'s "attempt to expand
 * an old mapping": next first, then prev asked with next's anon_vma (see the
 * reference engine). The expanded VMA, or 0.
 */
export function mmap_region_expand(g: Vmg): usize {
  const prev = g.prev;
  const next = g.next;
  if ((g.flags & VM_SPECIAL) != 0) return 0;
  let target: usize = 0;
  let start = g.start;
  let end = g.end;
  let pgoff = g.pgoff;
  if (next != 0 && vma_start(next) == g.end && can_vma_merge_before(g)) {
    target = next;
    end = vma_end(next);
    pgoff = vma_pgoff(next) - (g.end - g.start);
  }
  if (prev != 0 && vma_end(prev) == g.start) {
    g.anon = target == 0 ? 0 : vma_anon(target);
    const ok = can_vma_merge_after(g);
    g.anon = 0;
    if (ok) {
      target = prev;
      start = vma_start(prev);
      pgoff = vma_pgoff(prev);
    }
  }
  if (target == 0) return 0;
  vma_expand(g, target, start, end, pgoff);
  return target;
}

/** Try to merge the modified part of g.middle with its neighbours (vma_merge_existing_range()). */
export function vma_merge_existing_range(g: Vmg): usize {
  const mm = g.mm;
  const middle = g.middle;
  const s = g.start;
  const e = g.end;
  const leftSide = s == vma_start(middle);
  const rightSide = e == vma_end(middle);
  if ((g.flags & VM_SPECIAL) != 0 || (!leftSide && !rightSide)) return 0;
  if (!leftSide) g.prev = 0;
  g.next = rightSide ? tree_next(mm, middle) : 0;
  const prev = g.prev;
  const next = g.next;
  if (prev == 0 && next == 0) return 0;
  const canMergeLeft = can_vma_merge_left(g);
  const canMergeRight = !g.justExpand && can_vma_merge_right(g, canMergeLeft);
  if (!canMergeLeft && !canMergeRight) return 0;
  const removeMiddle = leftSide && rightSide;
  const sticky = g.flags | (canMergeRight ? vma_flags(next) : 0) | (canMergeLeft ? vma_flags(prev) : 0);

  if (canMergeLeft && canMergeRight) {
    vma_merge_sticky(prev, sticky);
    dup_anon_vma(prev, next);
    dup_anon_vma(prev, middle);
    const end = vma_end(next);
    tree_remove(mm, middle);
    tree_remove(mm, next);
    tree_set_end(mm, prev, end);
    vma_free(middle);
    vma_free(next);
    return prev;
  }
  if (canMergeLeft) {
    vma_merge_sticky(prev, sticky);
    dup_anon_vma(prev, middle);
    if (removeMiddle) {
      const end = vma_end(middle);
      tree_remove(mm, middle);
      tree_set_end(mm, prev, end);
      vma_free(middle);
    } else {
      tree_set_end(mm, prev, e);
      vma_set_pgoff(middle, vma_pgoff(middle) + (e - vma_start(middle)));
      vma_raw_set_start(middle, e);
    }
    return prev;
  }
  vma_merge_sticky(next, sticky);
  dup_anon_vma(next, middle);
  if (removeMiddle) {
    const start = vma_start(middle);
    const pgoff = vma_pgoff(middle);
    tree_remove(mm, middle);
    vma_set_pgoff(next, pgoff);
    vma_raw_set_start(next, start);
    vma_free(middle);
  } else {
    vma_set_pgoff(next, vma_pgoff(next) - (vma_start(next) - s));
    vma_raw_set_start(next, s);
    tree_set_end(mm, middle, s);
  }
  return next;
}

/** Split v at page addr without the map_count check (__split_vma()); returns the new piece. */
export function __split_vma(mm: usize, v: usize, addr: u64, newBelow: bool): usize {
  const piece = vma_dup(v);
  if (newBelow) {
    vma_raw_set_end(piece, addr);
    vma_set_pgoff(v, vma_pgoff(v) + (addr - vma_start(v)));
    vma_raw_set_start(v, addr);
  } else {
    vma_raw_set_start(piece, addr);
    vma_set_pgoff(piece, vma_pgoff(piece) + (addr - vma_start(v)));
    tree_set_end(mm, v, addr);
  }
  tree_insert(mm, piece);
  return piece;
}

/** split_vma(): refuses with ENOMEM once map_count has reached vm.max_map_count. */
export function split_vma(mm: usize, v: usize, addr: u64, newBelow: bool): i32 {
  if (mm_map_count(mm) >= maxMapCount) return -<i32>ENOMEM;
  __split_vma(mm, v, addr, newBelow);
  return 0;
}

/** Error results of vma_modify_flags are small negative numbers below this. */
export function is_err(p: usize): bool {
  return <isize>p < 0 && <isize>p > -4096;
}

/**
 * Change [start, end) inside v (vma_modify()): merge with a neighbour if
 * possible, else split v to the range. Returns the VMA covering the range
 * or a negative errno (test with is_err).
 */
export function vma_modify_flags(mm: usize, prev: usize, v: usize, start: u64, end: u64, newFlags: u32): usize {
  const g = vmg_new(mm, start, end, vma_pgoff(v) + (start - vma_start(v)), newFlags, vma_file(v));
  g.prev = prev;
  g.middle = v;
  g.anon = vma_anon(v);
  const merged = vma_merge_existing_range(g);
  if (merged != 0) return merged;
  if (vma_start(v) < start) {
    const err = split_vma(mm, v, start, true);
    if (err != 0) return <usize>err;
  }
  if (vma_end(v) > end) {
    const err = split_vma(mm, v, end, false);
    if (err != 0) return <usize>err;
  }
  return v;
}
