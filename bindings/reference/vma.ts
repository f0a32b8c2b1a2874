/**
 * The VMA merge engine, after mm/vma.c: the rules that decide whether a new
 * or modified range can merge with its neighbours, and the split/expand
 * primitives. Page-number units throughout. Every function is named for the
 * kernel function whose rule it applies.
 */
import { ENOMEM, VM_MAYBE_GUARD, VM_SOFTDIRTY, VM_SPECIAL, VM_STICKY } from "../kernel/facts.js";
import { vmAny, vmEqualIgnoring, vmSet } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import type { AnonVma, File, Mm, Vma } from "./mm_types.js";

/** Flags that never prevent a merge (mm.h VM_IGNORE_MERGE). */
export const VM_IGNORE_MERGE = VM_SOFTDIRTY | VM_MAYBE_GUARD;

/** struct vma_merge_struct: a proposed range and its would-be neighbours. */
export interface VmaMergeStruct {
  readonly k: Kernel;
  readonly mm: Mm;
  prev: Vma | null;
  /** The VMA being modified (existing-range merges), else null. */
  middle: Vma | null;
  next: Vma | null;
  start: number;
  end: number;
  pgoff: number;
  flags: number;
  file: File | null;
  anonVma: AnonVma | null;
  /** mremap(): the VMA being copied (6.18.9+ vmg->copied_from). */
  copiedFrom: Vma | null;
  /** brk(): only expand prev, never merge next. */
  justExpand: boolean;
}

export function vmgNew(k: Kernel, mm: Mm, start: number, end: number, pgoff: number, flags: number, file: File | null): VmaMergeStruct {
  return { k, mm, prev: null, middle: null, next: null, start, end, pgoff, flags, file, anonVma: null, copiedFrom: null, justExpand: false };
}

/** A VMA that received its anon_vma through fork keeps a chain longer than one (vma_is_fork_child). */
export function vma_is_fork_child(vma: Vma | null): boolean {
  return vma !== null && vma.anonVma !== null && vma.anonChain !== 1;
}

/** Flags (less the ignored ones) and file must match for two VMAs to become one. */
function is_mergeable_vma(vmg: VmaMergeStruct, mergeNext: boolean): boolean {
  const vma = mergeNext ? vmg.next! : vmg.prev!;
  return vmEqualIgnoring(vma.flags, vmg.flags, VM_IGNORE_MERGE) && vma.file === vmg.file;
}

/**
 * The anon_vma rule. 6.16+: a target without anon_vma may take the source's
 * unless the source is a fork child; a source without anon_vma may join a
 * target's unless the target is a fork child; otherwise they must be the same
 * object. Before 6.16 a faulted range could not join an unfaulted neighbour.
 */
function is_mergeable_anon_vma(vmg: VmaMergeStruct, mergeNext: boolean): boolean {
  const tgt = mergeNext ? vmg.next! : vmg.prev!;
  const src = vmg.anonVma;
  if (!vmg.k.switches.anonVmaSourceRule) {
    return ((src === null || tgt.anonVma === null) && tgt.anonChain === 1) || src === tgt.anonVma;
  }
  if (tgt.anonVma === null && src !== null) {
    if (vma_is_fork_child(vmg.middle)) return false;
    if (vmg.k.switches.copiedFromForkCheck && vma_is_fork_child(vmg.copiedFrom)) return false;
    return true;
  }
  if (tgt.anonVma !== null && src === null) return !vma_is_fork_child(tgt);
  return tgt.anonVma === src;
}

/** Merging prev and next into one needs their anon_vmas to agree (or one to be absent). */
function are_anon_vmas_compatible(prev: Vma, next: Vma): boolean {
  return prev.anonVma === null || next.anonVma === null || prev.anonVma === next.anonVma;
}

/** The range may be merged at the front of next: same attributes and contiguous pgoff. */
function can_vma_merge_before(vmg: VmaMergeStruct): boolean {
  const next = vmg.next!;
  return is_mergeable_vma(vmg, true) && is_mergeable_anon_vma(vmg, true) && next.pgoff === vmg.pgoff + (vmg.end - vmg.start);
}

/** The range may be merged at the end of prev: same attributes and contiguous pgoff. */
function can_vma_merge_after(vmg: VmaMergeStruct): boolean {
  const prev = vmg.prev!;
  return is_mergeable_vma(vmg, false) && is_mergeable_anon_vma(vmg, false) && prev.pgoff + prev.pages === vmg.pgoff;
}

function can_vma_merge_left(vmg: VmaMergeStruct): boolean {
  return vmg.prev !== null && vmg.prev.end === vmg.start && can_vma_merge_after(vmg);
}

function can_vma_merge_right(vmg: VmaMergeStruct, canMergeLeft: boolean): boolean {
  const next = vmg.next;
  if (next === null || vmg.end !== next.start || !can_vma_merge_before(vmg)) return false;
  return !canMergeLeft || are_anon_vmas_compatible(vmg.prev!, next);
}

/** Give dst the anon_vma of src (anon_vma_clone) if dst has none yet. */
export function dup_anon_vma(dst: Vma, src: Vma | null): void {
  if (src !== null && src.anonVma !== null && dst.anonVma === null) {
    dst.anonVma = src.anonVma;
    dst.anonChain = src.anonChain;
  }
}

/**
 * Sticky flags (6.18.44) survive a merge from whichever participant had
 * them: OR them into the survivor.
 */
function vma_merge_sticky(vmg: VmaMergeStruct, survivor: Vma, flags: number): void {
  if (vmg.k.switches.stickyFlags) survivor.flags = vmSet(survivor.flags, flags & VM_STICKY);
}

/**
 * The flags a modified range ends up with: the requested ones plus any
 * sticky flag the merge brought in (vma_modify_flags()'s residual flags).
 */
export function vma_modified_flags(k: Kernel, vma: Vma, newFlags: number): number {
  return k.switches.stickyFlags ? vmSet(newFlags, vma.flags & VM_STICKY) : newFlags;
}

/**
 * Grow target to [start, end) with the given pgoff, removing next if the new
 * range swallows it (vma_expand()).
 */
function vma_expand(vmg: VmaMergeStruct, target: Vma, start: number, end: number, pgoff: number): void {
  const next = vmg.next;
  const removeNext = next !== null && target !== next && end === next.end;
  vma_merge_sticky(vmg, target, vmg.flags | (removeNext ? next!.flags : 0));
  if (removeNext) dup_anon_vma(target, next);
  if (vmg.copiedFrom !== null) dup_anon_vma(target, vmg.copiedFrom);
  if (removeNext) vmg.mm.tree.remove(next!);
  target.start = start;
  target.end = end;
  target.pgoff = pgoff;
}

/**
 * Try to merge a new range [vmg.start, vmg.end) with prev and/or next
 * (vma_merge_new_range()). Returns the VMA that now covers the range, or null.
 */
export function vma_merge_new_range(vmg: VmaMergeStruct): Vma | null {
  const { prev, next } = vmg;
  if (vmAny(vmg.flags, VM_SPECIAL) || (prev === null && next === null)) return null;
  const canMergeLeft = can_vma_merge_left(vmg);
  const canMergeRight = !vmg.justExpand && can_vma_merge_right(vmg, canMergeLeft);
  let start = vmg.start;
  let end = vmg.end;
  let pgoff = vmg.pgoff;
  let target: Vma | null = null;
  if (canMergeRight) {
    end = next!.end;
    target = next;
  }
  if (canMergeLeft) {
    start = prev!.start;
    pgoff = prev!.pgoff;
    target = prev;
  }
  if (target === null) return null;
  vma_expand(vmg, target, start, end, pgoff);
  return target;
}

/**
 * Before 6.12 (switch mmapExpandNextFirst): mmap_region()'s "attempt to
 * expand an old mapping". next is taken first if the new range (no anon_vma)
 * fits its front; prev is then asked with next's anon_vma, or none if next
 * was not taken, and if it agrees it absorbs the range (and next). The
 * anon_vma test names the existing VMA, so an unfaulted prev (empty
 * anon_vma chain) refuses a faulted next. Returns the expanded VMA or null.
 */
export function mmap_region_expand(vmg: VmaMergeStruct): Vma | null {
  const { prev, next } = vmg;
  if (vmAny(vmg.flags, VM_SPECIAL)) return null;
  let target: Vma | null = null;
  let start = vmg.start;
  let end = vmg.end;
  let pgoff = vmg.pgoff;
  if (next !== null && next.start === vmg.end && can_vma_merge_before(vmg)) {
    target = next;
    end = next.end;
    pgoff = next.pgoff - (vmg.end - vmg.start);
  }
  if (prev !== null && prev.end === vmg.start) {
    vmg.anonVma = target === null ? null : target.anonVma;
    const ok = can_vma_merge_after(vmg);
    vmg.anonVma = null;
    if (ok) {
      target = prev;
      start = prev.start;
      pgoff = prev.pgoff;
    }
  }
  if (target === null) return null;
  vma_expand(vmg, target, start, end, pgoff);
  return target;
}

/**
 * Try to merge the modified part [vmg.start, vmg.end) of vmg.middle with its
 * neighbours (vma_merge_existing_range()). Only a range touching an end of
 * middle can merge. Returns the surviving VMA, or null.
 */
export function vma_merge_existing_range(vmg: VmaMergeStruct): Vma | null {
  const mm = vmg.mm;
  const middle = vmg.middle!;
  const s = vmg.start;
  const e = vmg.end;
  const leftSide = s === middle.start;
  const rightSide = e === middle.end;
  if (vmAny(vmg.flags, VM_SPECIAL) || (!leftSide && !rightSide)) return null;
  if (!leftSide) vmg.prev = null;
  vmg.next = rightSide ? mm.tree.next(middle) : null;
  const prev = vmg.prev;
  const next = vmg.next;
  if (prev === null && next === null) return null;
  const canMergeLeft = can_vma_merge_left(vmg);
  const canMergeRight = !vmg.justExpand && can_vma_merge_right(vmg, canMergeLeft);
  if (!canMergeLeft && !canMergeRight) return null;
  const removeMiddle = leftSide && rightSide;
  const sticky = (vmg.flags | (canMergeRight ? next!.flags : 0) | (canMergeLeft ? prev!.flags : 0)) >>> 0;

  if (canMergeLeft && canMergeRight) {
    vma_merge_sticky(vmg, prev!, sticky);
    // prev absorbs middle and next.
    dup_anon_vma(prev!, next);
    dup_anon_vma(prev!, middle);
    mm.tree.remove(middle);
    mm.tree.remove(next!);
    prev!.end = next!.end;
    return prev;
  }
  if (canMergeLeft) {
    vma_merge_sticky(vmg, prev!, sticky);
    dup_anon_vma(prev!, middle);
    if (removeMiddle) {
      mm.tree.remove(middle);
      prev!.end = middle.end;
    } else {
      // prev takes [s, e); middle keeps [e, middle.end).
      prev!.end = e;
      middle.pgoff += e - middle.start;
      middle.start = e;
    }
    return prev;
  }
  // canMergeRight
  vma_merge_sticky(vmg, next!, sticky);
  dup_anon_vma(next!, middle);
  if (removeMiddle) {
    mm.tree.remove(middle);
    next!.pgoff = middle.pgoff;
    next!.start = middle.start;
  } else {
    // next grows down to s; middle keeps [middle.start, s).
    next!.pgoff -= next!.start - s;
    next!.start = s;
    middle.end = s;
  }
  return next;
}

/**
 * Split vma at page addr without the map_count check (__split_vma()). The new
 * object is the lower piece if newBelow, else the upper; the original object
 * keeps the other piece.
 */
export function __split_vma(mm: Mm, vma: Vma, addr: number, newBelow: boolean): Vma {
  const piece = vma.dup();
  if (newBelow) {
    piece.end = addr;
    vma.pgoff += addr - vma.start;
    vma.start = addr;
  } else {
    piece.start = addr;
    piece.pgoff += addr - vma.start;
    vma.end = addr;
  }
  mm.tree.insert(piece);
  return piece;
}

/** split_vma(): refuses with ENOMEM once map_count has reached vm.max_map_count. */
export function split_vma(k: Kernel, mm: Mm, vma: Vma, addr: number, newBelow: boolean): number {
  if (mm.mapCount >= k.maxMapCount) return -ENOMEM;
  __split_vma(mm, vma, addr, newBelow);
  return 0;
}

/**
 * Change the attributes of [start, end) inside vma (vma_modify()): merge with
 * a neighbour if possible, otherwise split vma so that it spans exactly the
 * range. Returns the VMA now covering the range (the caller applies the new
 * flags to it) or -errno; an earlier split is not undone on failure.
 */
export function vma_modify_flags(k: Kernel, mm: Mm, prev: Vma | null, vma: Vma, start: number, end: number, newFlags: number): Vma | number {
  const vmg: VmaMergeStruct = {
    k, mm, prev, middle: vma, next: null, start, end,
    pgoff: vma.pgoff + (start - vma.start), flags: newFlags, file: vma.file, anonVma: vma.anonVma,
    copiedFrom: null, justExpand: false,
  };
  const merged = vma_merge_existing_range(vmg);
  if (merged !== null) return merged;
  if (vma.start < start) {
    const err = split_vma(k, mm, vma, start, true);
    if (err) return err;
  }
  if (vma.end > end) {
    const err = split_vma(k, mm, vma, end, false);
    if (err) return err;
  }
  return vma;
}
