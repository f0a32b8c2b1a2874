/**
 * mremap(2), after mm/mremap.c (6.17+ shape: struct vma_remap_struct):
 * shrink in place, grow in place through vma_merge_extend(), or move by
 * copy_vma() + unmapping the source (or, with MREMAP_DONTUNMAP, keeping it).
 */
import {
  EFAULT, EINVAL, ENOMEM, MAP_FIXED, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SIZE, TASK_SIZE,
  VM_ACCOUNT, VM_DONTEXPAND, VM_LOCKED, VM_LOCKED_MASK, VM_MAYSHARE, VM_PFNMAP, VM_SHARED,
} from "../kernel/facts.js";
import { vmAny, vmClear, vmSet } from "../kernel/vmflags.js";
import { FileKind } from "../engine.js";
import type { Kernel } from "./kernel.js";
import { type Mm, type Vma, vma_is_anonymous } from "./mm_types.js";
import { do_munmap, get_unmapped_area, mm_populate, offsetInPage, pageAlign } from "./mmap.js";
import { move_page_range, within_mm_pages } from "./pages.js";
import { type VmaMergeStruct, dup_anon_vma, vma_merge_new_range, vma_modify_flags } from "./vma.js";

/** struct vma_remap_struct, in bytes like the kernel's. */
interface Vrm {
  vma: Vma | null;
  addr: number;
  oldLen: number;
  newLen: number;
  flags: number;
  newAddr: number;
  delta: number;
  mlocked: boolean;
}

const enum RemapType { NoResize, Shrink, Expand }

function vrm_remap_type(vrm: Vrm): RemapType {
  if (vrm.oldLen === vrm.newLen) return RemapType.NoResize;
  return vrm.oldLen > vrm.newLen ? RemapType.Shrink : RemapType.Expand;
}

/** FIXED or DONTUNMAP: the VMA will be moved to a chosen address. */
function vrm_implies_new_addr(vrm: Vrm): boolean {
  return (vrm.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0;
}

function vrm_overlaps(vrm: Vrm): boolean {
  return vrm.addr + vrm.oldLen > vrm.newAddr && vrm.newAddr + vrm.newLen > vrm.addr;
}

/** Argument checks before any VMA is looked at (check_mremap_params()). */
function check_mremap_params(k: Kernel, mm: Mm, vrm: Vrm): number {
  if (vrm.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if (offsetInPage(vrm.addr)) return -EINVAL;
  if (vrm.newLen === 0) return -EINVAL;
  if (vrm.newLen > TASK_SIZE || vrm.newAddr > TASK_SIZE - vrm.newLen) return -EINVAL;
  if (!vrm_implies_new_addr(vrm)) return 0;
  if (offsetInPage(vrm.newAddr)) return -EINVAL;
  if (!(vrm.flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (vrm.flags & MREMAP_DONTUNMAP && vrm.oldLen !== vrm.newLen) return -EINVAL;
  if (vrm_overlaps(vrm)) return -EINVAL;
  // Both source and destination may be split in three: keep head-room.
  if (mm.mapCount + 2 >= k.maxMapCount - 3) return -ENOMEM;
  return 0;
}

/** Can this VMA be resized or moved as asked (remap_is_valid())? */
function remap_is_valid(vrm: Vrm, type: RemapType): number {
  const vma = vrm.vma!;
  let oldLen = vrm.oldLen;
  if (oldLen === 0 && !vmAny(vma.flags, VM_SHARED | VM_MAYSHARE)) return -EINVAL;
  if (vrm.flags & MREMAP_DONTUNMAP && vmAny(vma.flags, VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
  if (type === RemapType.Shrink) oldLen = vrm.newLen;
  if (oldLen > vma.end * PAGE_SIZE - vrm.addr) return -EFAULT;
  if (vrm.newLen === oldLen) return 0;
  if (vmAny(vma.flags, VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return 0;
}

/** Look up and validate the source VMA (check_prep_vma()). */
function check_prep_vma(vrm: Vrm): number {
  if (vrm.vma === null) return -EFAULT;
  vrm.delta = Math.abs(vrm.newLen - vrm.oldLen);
  const type = vrm_remap_type(vrm);
  if (!vrm_implies_new_addr(vrm)) vrm.newAddr = vrm.addr;
  if (type === RemapType.Expand || vrm_implies_new_addr(vrm)) return remap_is_valid(vrm, type);
  return 0;
}

/**
 * Make a copy of the source range at addr (copy_vma()): merge with the
 * destination's neighbours if possible (an unfaulted anonymous source takes
 * pgoff from its new address so that it can), else link a duplicate.
 */
function copy_vma(k: Kernel, mm: Mm, src: Vma, addr: number, pages: number, pgoff: number, keepSource: boolean): Vma {
  if (vma_is_anonymous(src) && src.anonVma === null) pgoff = addr;
  const vmg: VmaMergeStruct = {
    k, mm, prev: mm.tree.findPrev(addr), middle: null, next: mm.tree.find(addr), start: addr, end: addr + pages, pgoff,
    flags: src.flags, file: src.file, anonVma: src.anonVma, copiedFrom: src, justExpand: false,
  };
  // The copy of a DONTUNMAP move may merge with its own source only where the kernel allows it (6.18.44).
  if (keepSource && !k.switches.dontunmapSelfMerge && vmg.prev === src) vmg.prev = null;
  const merged = vma_merge_new_range(vmg);
  if (merged !== null) return merged;
  const copy = src.dup();
  copy.start = addr;
  copy.end = addr + pages;
  copy.pgoff = pgoff;
  dup_anon_vma(copy, src);
  mm.tree.insert(copy);
  return copy;
}

/** Move vrm.vma's range to vrm.newAddr (move_vma()). */
function move_vma(k: Kernel, mm: Mm, vrm: Vrm): number {
  if (mm.mapCount >= k.maxMapCount - 3) return -ENOMEM;
  let vma = vrm.vma!;
  const addrPage = vrm.addr / PAGE_SIZE;
  const newPgoff = vma.pgoff + (addrPage - vma.start);
  const oldStart = vma.start;
  const newVma = copy_vma(k, mm, vma, vrm.newAddr / PAGE_SIZE, vrm.newLen / PAGE_SIZE, newPgoff, (vrm.flags & MREMAP_DONTUNMAP) !== 0);
  // move_page_tables(): the pages go with the range.
  move_page_range(mm, addrPage, vrm.newAddr / PAGE_SIZE, vrm.oldLen / PAGE_SIZE);
  // The source itself may have been merged into the copy (unfaulted anon memory moved next to itself).
  if (oldStart >= newVma.start && oldStart < newVma.end) vma = newVma;
  if (vmAny(vma.flags, VM_LOCKED)) vrm.mlocked = true;
  const end = addrPage + vrm.oldLen / PAGE_SIZE;
  if (vrm.flags & MREMAP_DONTUNMAP) {
    // dontunmap_complete(): the source stays, unlocked; a wholly moved one drops its anon_vma.
    if (k.switches.dontunmapMunlocksRange && vmAny(vma.flags, VM_LOCKED)) {
      // 6.12: only the moved range is unlocked, split off the rest.
      const prev = addrPage > vma.start ? vma : mm.tree.prev(vma);
      const piece = vma_modify_flags(k, mm, prev, vma, addrPage, end, vmClear(vma.flags, VM_LOCKED_MASK));
      if (typeof piece !== "number") vma = piece;
    }
    const whole = addrPage === vma.start && end === vma.end;
    vma.flags = vmClear(vma.flags, k.switches.dontunmapKeepsAccount ? VM_LOCKED_MASK : VM_LOCKED_MASK | VM_ACCOUNT);
    if (newVma !== vma && whole) {
      vma.anonVma = null;
      vma.anonChain = 0;
    }
    return vrm.newAddr;
  }
  // unmap_source_vma(): VM_ACCOUNT is kept on whatever is left of the source.
  const accountable = vmAny(vma.flags, VM_ACCOUNT);
  const vmStart = vma.start;
  const vmEnd = vma.end;
  if (accountable) vma.flags = vmClear(vma.flags, VM_ACCOUNT);
  // A failed unmap (old_len 0 duplicates a shared mapping) leaves everything as it is.
  const err = do_munmap(k, mm, vrm.addr, vrm.oldLen);
  if (err === 0 && accountable) {
    if (vmStart < addrPage) {
      const prev = mm.tree.findPrev(addrPage)!;
      prev.flags = vmSet(prev.flags, VM_ACCOUNT);
    }
    if (vmEnd > end) {
      const next = mm.tree.find(end)!;
      next.flags = vmSet(next.flags, VM_ACCOUNT);
    }
  }
  return vrm.newAddr;
}

/** Choose the destination (vrm_set_new_addr()): FIXED is MAP_FIXED, DONTUNMAP alone is a hint. */
function vrm_set_new_addr(mm: Mm, vrm: Vrm): number {
  const vma = vrm.vma!;
  let mapFlags = 0;
  if (vrm.flags & MREMAP_FIXED) mapFlags |= MAP_FIXED;
  if (vmAny(vma.flags, VM_MAYSHARE)) mapFlags |= MAP_SHARED;
  const file = vma.file !== null && vma.file.kind !== FileKind.ShmemAnon ? vma.file : null;
  const res = get_unmapped_area(mm, file, vrm_implies_new_addr(vrm) ? vrm.newAddr : 0, vrm.newLen, mapFlags);
  if (res < 0) return res;
  vrm.newAddr = res;
  return 0;
}

/** Move to a new address, unmapping the destination first for FIXED (mremap_to()). */
function mremap_to(k: Kernel, mm: Mm, vrm: Vrm): number {
  if (vrm.flags & MREMAP_FIXED) {
    const err = do_munmap(k, mm, vrm.newAddr, vrm.newLen);
    if (err) return err;
    vrm.vma = mm.tree.lookup(vrm.addr / PAGE_SIZE);
    if (vrm.vma === null) return -EFAULT;
  }
  if (vrm_remap_type(vrm) === RemapType.Shrink) {
    const err = do_munmap(k, mm, vrm.addr + vrm.newLen, vrm.delta);
    if (err) return err;
    vrm.vma = mm.tree.lookup(vrm.addr / PAGE_SIZE);
    if (vrm.vma === null) return -EFAULT;
    vrm.oldLen = vrm.newLen;
  }
  const err = vrm_set_new_addr(mm, vrm);
  if (err) return err;
  return move_vma(k, mm, vrm);
}

/**
 * Grow in place if the range ends the VMA and the space after it is free
 * (vrm_can_expand_in_place() + vma_merge_extend()), else move if allowed.
 */
function expand_vma(k: Kernel, mm: Mm, vrm: Vrm): number {
  const vma = vrm.vma!;
  const deltaPages = vrm.delta / PAGE_SIZE;
  const newEnd = vma.end + deltaPages;
  const next = mm.tree.find(vma.end);
  const free = (next === null || next.start >= newEnd) && newEnd * PAGE_SIZE <= TASK_SIZE;
  if (vma.end * PAGE_SIZE - vrm.addr === vrm.oldLen && free) {
    const vmg: VmaMergeStruct = {
      k, mm, prev: vma, middle: null, next, start: vma.end, end: newEnd, pgoff: vma.pgoff + vma.pages,
      flags: vma.flags, file: vma.file, anonVma: vma.anonVma, copiedFrom: null, justExpand: false,
    };
    const merged = vma_merge_new_range(vmg);
    if (merged === null) return -ENOMEM;
    if (vmAny(merged.flags, VM_LOCKED)) vrm.mlocked = true;
    return vrm.addr;
  }
  if (!(vrm.flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const err = vrm_set_new_addr(mm, vrm);
  if (err) return err;
  return move_vma(k, mm, vrm);
}

/** Resize without a new address (mremap_at()). */
function mremap_at(k: Kernel, mm: Mm, vrm: Vrm): number {
  switch (vrm_remap_type(vrm)) {
    case RemapType.NoResize:
      return vrm.addr;
    case RemapType.Shrink: {
      const err = do_munmap(k, mm, vrm.addr + vrm.newLen, vrm.delta);
      return err ? err : vrm.addr;
    }
    case RemapType.Expand:
      return expand_vma(k, mm, vrm);
  }
}

/**
 * VMAs that may move together with others: not those whose file has its own
 * get_unmapped_area that could ignore MREMAP_FIXED. Anonymous memory, shmem
 * and thp_get_unmapped_area files (ext4 regular files) may; /dev/zero's
 * private mappings may not (vma_multi_allowed()).
 */
function vma_multi_allowed(vma: Vma): boolean {
  return vma.file === null || vma.file.kind !== FileKind.DevZero;
}

/**
 * MREMAP_FIXED with old_len == new_len (6.17+): every VMA of the source range
 * moves, keeping the gaps between them (remap_move()).
 */
function remap_move(k: Kernel, mm: Mm, vrm: Vrm): number {
  const start = vrm.addr;
  const end = vrm.addr + vrm.oldLen;
  let targetAddr = vrm.newAddr;
  let res = -EFAULT;
  let seen = false;
  let lastEnd = 0;
  for (let vma = mm.tree.find(start / PAGE_SIZE); vma !== null && vma.start * PAGE_SIZE < end; vma = mm.tree.find(lastEnd)) {
    const vmaStart = vma.start * PAGE_SIZE;
    const vmaEnd = vma.end * PAGE_SIZE;
    if (!seen && start < vmaStart) return -EFAULT;
    const addr = Math.max(vmaStart, start);
    const len = Math.min(end, vmaEnd) - addr;
    const offset = seen ? vmaStart - lastEnd * PAGE_SIZE : 0;
    lastEnd = vma.end;
    if (!vma_multi_allowed(vma)) {
      if (seen) return -EFAULT;
      if (vmaEnd < end) return -EFAULT;
    }
    const step: Vrm = { vma, addr, oldLen: len, newLen: len, flags: vrm.flags, newAddr: targetAddr + offset, delta: 0, mlocked: false };
    let r = check_prep_vma(step);
    if (r === 0) r = mremap_to(k, mm, step);
    if (r < 0) return r;
    if (!seen) res = r;
    seen = true;
    targetAddr = r + len;
    if (lastEnd * PAGE_SIZE >= end) break;
  }
  return res;
}

/**
 * mremap_to() before the 6.16 rework: the new address is checked here, the
 * FIXED destination unmapped, and only then the source validated
 * (vma_to_resize()).
 */
function mremap_to_legacy(k: Kernel, mm: Mm, vrm: Vrm): number {
  if (offsetInPage(vrm.newAddr)) return -EINVAL;
  if (vrm.newLen > TASK_SIZE || vrm.newAddr > TASK_SIZE - vrm.newLen) return -EINVAL;
  if (vrm_overlaps(vrm)) return -EINVAL;
  if (mm.mapCount + 2 >= k.maxMapCount - 3) return -ENOMEM;
  if (vrm.flags & MREMAP_FIXED) {
    const err = do_munmap(k, mm, vrm.newAddr, vrm.newLen);
    if (err) return err;
  }
  if (vrm.oldLen > vrm.newLen) {
    const err = do_munmap(k, mm, vrm.addr + vrm.newLen, vrm.oldLen - vrm.newLen);
    if (err) return err;
    vrm.oldLen = vrm.newLen;
  }
  vrm.vma = mm.tree.lookup(vrm.addr / PAGE_SIZE);
  if (vrm.vma === null) return -EFAULT;
  vrm.delta = Math.abs(vrm.newLen - vrm.oldLen);
  const err = remap_is_valid(vrm, vrm_remap_type(vrm));
  if (err) return err;
  const e2 = vrm_set_new_addr(mm, vrm);
  if (e2) return e2;
  return move_vma(k, mm, vrm);
}

/**
 * mremap(2) before the 6.16 rework (SYSCALL_DEFINE5(mremap) of 6.12): the
 * source VMA is looked up right after the flag and length checks.
 */
function do_mremap_legacy(k: Kernel, mm: Mm, vrm: Vrm, oldLenIn: number, newLenIn: number): number {
  const flags = vrm.flags;
  if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && (!(flags & MREMAP_MAYMOVE) || oldLenIn !== newLenIn)) return -EINVAL;
  if (offsetInPage(vrm.addr)) return -EINVAL;
  if (vrm.newLen === 0) return -EINVAL;
  vrm.vma = mm.tree.lookup(vrm.addr / PAGE_SIZE);
  if (vrm.vma === null) return -EFAULT;
  if (vrm_implies_new_addr(vrm)) return mremap_to_legacy(k, mm, vrm);
  vrm.newAddr = vrm.addr;
  if (vrm.oldLen >= vrm.newLen) {
    if (vrm.oldLen === vrm.newLen) return vrm.addr;
    const err = do_munmap(k, mm, vrm.addr + vrm.newLen, vrm.oldLen - vrm.newLen);
    return err ? err : vrm.addr;
  }
  vrm.delta = vrm.newLen - vrm.oldLen;
  const err = remap_is_valid(vrm, RemapType.Expand);
  if (err) return err;
  return expand_vma(k, mm, vrm);
}

/** mremap(2) (do_mremap()). Returns the new address or -errno. */
export function do_mremap(k: Kernel, mm: Mm, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number {
  const vrm: Vrm = { vma: null, addr, oldLen: pageAlign(oldLen), newLen: pageAlign(newLen), flags, newAddr, delta: 0, mlocked: false };
  let res: number;
  if (k.switches.mremapLegacyOrder) {
    res = do_mremap_legacy(k, mm, vrm, oldLen, newLen);
    return res >= 0 ? mremap_populate_expand(k, mm, vrm, res) : res;
  }
  res = check_mremap_params(k, mm, vrm);
  if (res) return res;
  if (k.switches.multiVmaMremap && flags & MREMAP_FIXED && vrm.oldLen === vrm.newLen) {
    res = remap_move(k, mm, vrm);
  } else {
    vrm.vma = mm.tree.lookup(addr / PAGE_SIZE);
    res = check_prep_vma(vrm);
    if (res) return res;
    res = vrm_implies_new_addr(vrm) ? mremap_to(k, mm, vrm) : mremap_at(k, mm, vrm);
  }
  return res >= 0 ? mremap_populate_expand(k, mm, vrm, res) : res;
}

/**
 * An mlocked mapping that grew has its new tail faulted in (the kernel's
 * populate_expand); res is the call's result. A tail that would not fit the
 * simulated RAM is ENOMEM with the move done, as in the Wasm engine.
 */
function mremap_populate_expand(k: Kernel, mm: Mm, vrm: Vrm, res: number): number {
  if (!vrm.mlocked || vrm.newLen <= vrm.oldLen) return res;
  if (!within_mm_pages(mm, (vrm.newLen - vrm.oldLen) / PAGE_SIZE)) return -ENOMEM;
  mm_populate(k, mm, (vrm.newAddr + vrm.oldLen) / PAGE_SIZE, (vrm.newAddr + vrm.newLen) / PAGE_SIZE);
  return res;
}
