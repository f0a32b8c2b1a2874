// mremap(2), mirroring bindings/reference/mremap.ts. The vma_remap_struct is
// one static unmanaged struct per step (remap_move keeps the caller's).

import {
  EFAULT, EINVAL, ENOMEM, MAP_FIXED, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, SW_DONTUNMAP_KEEPS_ACCOUNT,
  SW_DONTUNMAP_MUNLOCKS_RANGE, SW_DONTUNMAP_SELF_MERGE, SW_MREMAP_LEGACY_ORDER, SW_MULTI_VMA_MREMAP, TASK_SIZE, VM_ACCOUNT, VM_DONTEXPAND, VM_LOCKED, VM_LOCKED_MASK,
  VM_MAYSHARE, VM_PFNMAP, VM_SHARED,
} from "./generated/facts";
import { maxMapCount, sw } from "./kernel";
import { move_page_range, pt_reserve_range } from "./pages";
import { PAGE, do_munmap, get_unmapped_area, mm_populate, offsetInPage, pageAlign } from "./mmap";
import {
  FILE_DEV_ZERO, FILE_SHMEM_ANON, file_kind, mm_map_count, vma_anon, vma_dup, vma_end, vma_file, vma_flags,
  vma_is_anonymous, vma_pages, vma_pgoff, vma_raw_set_end, vma_raw_set_start, vma_set_anon, vma_set_chain,
  vma_set_flags, vma_set_pgoff, vma_start,
} from "./mm_types";
import { tree_find, tree_find_prev, tree_insert, tree_lookup, tree_prev } from "./tree";
import { dup_anon_vma, is_err, vma_merge_new_range, vma_modify_flags, vmg_new } from "./vma";

const TASK: f64 = <f64>TASK_SIZE;

@unmanaged
class Vrm {
  vma: usize;
  addr: f64;
  oldLen: f64;
  newLen: f64;
  flags: u32;
  newAddr: f64;
  delta: f64;
  mlocked: bool;
}

const NO_RESIZE: i32 = 0;
const SHRINK: i32 = 1;
const EXPAND: i32 = 2;

function vrm_remap_type(r: Vrm): i32 {
  if (r.oldLen == r.newLen) return NO_RESIZE;
  return r.oldLen > r.newLen ? SHRINK : EXPAND;
}

function vrm_implies_new_addr(r: Vrm): bool {
  return (r.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) != 0;
}

function vrm_overlaps(r: Vrm): bool {
  return r.addr + r.oldLen > r.newAddr && r.newAddr + r.newLen > r.addr;
}

/** Argument checks before any VMA is looked at (check_mremap_params()). */
function check_mremap_params(mm: usize, r: Vrm): i64 {
  if ((r.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) != 0) return -<i64>EINVAL;
  if (offsetInPage(r.addr)) return -<i64>EINVAL;
  if (r.newLen == 0) return -<i64>EINVAL;
  if (r.newLen > TASK || r.newAddr > TASK - r.newLen) return -<i64>EINVAL;
  if (!vrm_implies_new_addr(r)) return 0;
  if (offsetInPage(r.newAddr)) return -<i64>EINVAL;
  if ((r.flags & MREMAP_MAYMOVE) == 0) return -<i64>EINVAL;
  if ((r.flags & MREMAP_DONTUNMAP) != 0 && r.oldLen != r.newLen) return -<i64>EINVAL;
  if (vrm_overlaps(r)) return -<i64>EINVAL;
  if (<i64>mm_map_count(mm) + 2 >= <i64>maxMapCount - 3) return -<i64>ENOMEM;
  return 0;
}

/** Can this VMA be resized or moved as asked (remap_is_valid())? */
function remap_is_valid(r: Vrm, type: i32): i64 {
  const v = r.vma;
  let oldLen = r.oldLen;
  if (oldLen == 0 && (vma_flags(v) & (VM_SHARED | VM_MAYSHARE)) == 0) return -<i64>EINVAL;
  if ((r.flags & MREMAP_DONTUNMAP) != 0 && (vma_flags(v) & (VM_DONTEXPAND | VM_PFNMAP)) != 0) return -<i64>EINVAL;
  if (type == SHRINK) oldLen = r.newLen;
  if (oldLen > <f64>vma_end(v) * PAGE - r.addr) return -<i64>EFAULT;
  if (r.newLen == oldLen) return 0;
  if ((vma_flags(v) & (VM_DONTEXPAND | VM_PFNMAP)) != 0) return -<i64>EFAULT;
  return 0;
}

/** Validate the source VMA (check_prep_vma()). */
function check_prep_vma(r: Vrm): i64 {
  if (r.vma == 0) return -<i64>EFAULT;
  r.delta = Math.abs(r.newLen - r.oldLen);
  const type = vrm_remap_type(r);
  if (!vrm_implies_new_addr(r)) r.newAddr = r.addr;
  if (type == EXPAND || vrm_implies_new_addr(r)) return remap_is_valid(r, type);
  return 0;
}

/** Copy the source range to addr: merge at the destination if possible, else a duplicate (copy_vma()). */
function copy_vma(mm: usize, src: usize, addr: u64, pages: u64, pgoffIn: u64, keepSource: bool): usize {
  let pgoff = pgoffIn;
  if (vma_is_anonymous(src) && vma_anon(src) == 0) pgoff = addr;
  const g = vmg_new(mm, addr, addr + pages, pgoff, vma_flags(src), vma_file(src));
  g.prev = tree_find_prev(mm, addr);
  g.next = tree_find(mm, addr);
  g.anon = vma_anon(src);
  g.copiedFrom = src;
  if (keepSource && !sw(SW_DONTUNMAP_SELF_MERGE) && g.prev == src) g.prev = 0;
  const merged = vma_merge_new_range(g);
  if (merged != 0) return merged;
  const copy = vma_dup(src);
  vma_raw_set_start(copy, addr);
  vma_raw_set_end(copy, addr + pages);
  vma_set_pgoff(copy, pgoff);
  dup_anon_vma(copy, src);
  tree_insert(mm, copy);
  return copy;
}

/** Move r.vma's range to r.newAddr (move_vma()). */
function move_vma(mm: usize, r: Vrm): f64 {
  if (<i64>mm_map_count(mm) >= <i64>maxMapCount - 3) return -<f64>ENOMEM;
  let v = r.vma;
  const addrPage = <u64>(r.addr / PAGE);
  const newPgoff = vma_pgoff(v) + (addrPage - vma_start(v));
  const oldStart = vma_start(v);
  const newVma = copy_vma(mm, v, <u64>(r.newAddr / PAGE), <u64>(r.newLen / PAGE), newPgoff, (r.flags & MREMAP_DONTUNMAP) != 0);
  // move_page_tables(): the pages go with the range.
  move_page_range(mm, addrPage, <u64>(r.newAddr / PAGE), <u64>(r.oldLen / PAGE));
  if (oldStart >= vma_start(newVma) && oldStart < vma_end(newVma)) v = newVma;
  if ((vma_flags(v) & VM_LOCKED) != 0) r.mlocked = true;
  const end = addrPage + <u64>(r.oldLen / PAGE);
  if ((r.flags & MREMAP_DONTUNMAP) != 0) {
    if (sw(SW_DONTUNMAP_MUNLOCKS_RANGE) && (vma_flags(v) & VM_LOCKED) != 0) {
      // 6.12: only the moved range is unlocked, split off the rest.
      const prev = addrPage > vma_start(v) ? v : tree_prev(mm, v);
      const piece = vma_modify_flags(mm, prev, v, addrPage, end, vma_flags(v) & ~VM_LOCKED_MASK);
      if (!is_err(piece)) v = piece;
    }
    const whole = addrPage == vma_start(v) && end == vma_end(v);
    const clear: u32 = sw(SW_DONTUNMAP_KEEPS_ACCOUNT) ? VM_LOCKED_MASK : VM_LOCKED_MASK | VM_ACCOUNT;
    vma_set_flags(v, vma_flags(v) & ~clear);
    if (newVma != v && whole) {
      vma_set_anon(v, 0);
      vma_set_chain(v, 0);
    }
    return r.newAddr;
  }
  const accountable = (vma_flags(v) & VM_ACCOUNT) != 0;
  const vmStart = vma_start(v);
  const vmEnd = vma_end(v);
  if (accountable) vma_set_flags(v, vma_flags(v) & ~VM_ACCOUNT);
  const err = do_munmap(mm, r.addr, r.oldLen);
  if (err == 0 && accountable) {
    if (vmStart < addrPage) {
      const prev = tree_find_prev(mm, addrPage);
      vma_set_flags(prev, vma_flags(prev) | VM_ACCOUNT);
    }
    if (vmEnd > end) {
      const next = tree_find(mm, end);
      vma_set_flags(next, vma_flags(next) | VM_ACCOUNT);
    }
  }
  return r.newAddr;
}

/** Choose the destination (vrm_set_new_addr()). */
function vrm_set_new_addr(mm: usize, r: Vrm): i64 {
  const v = r.vma;
  let mapFlags: u32 = 0;
  if ((r.flags & MREMAP_FIXED) != 0) mapFlags |= MAP_FIXED;
  if ((vma_flags(v) & VM_MAYSHARE) != 0) mapFlags |= MAP_SHARED;
  const f = vma_file(v);
  const file: u32 = f != 0 && file_kind(f) != FILE_SHMEM_ANON ? f : 0;
  const res = get_unmapped_area(mm, file, vrm_implies_new_addr(r) ? r.newAddr : 0, r.newLen, mapFlags);
  if (res < 0) return <i64>res;
  r.newAddr = res;
  return 0;
}

/** Move to a new address, unmapping the destination first for FIXED (mremap_to()). */
function mremap_to(mm: usize, r: Vrm): f64 {
  if ((r.flags & MREMAP_FIXED) != 0) {
    const err = do_munmap(mm, r.newAddr, r.newLen);
    if (err != 0) return <f64>err;
    r.vma = tree_lookup(mm, <u64>(r.addr / PAGE));
    if (r.vma == 0) return -<f64>EFAULT;
  }
  if (vrm_remap_type(r) == SHRINK) {
    const err = do_munmap(mm, r.addr + r.newLen, r.delta);
    if (err != 0) return <f64>err;
    r.vma = tree_lookup(mm, <u64>(r.addr / PAGE));
    if (r.vma == 0) return -<f64>EFAULT;
    r.oldLen = r.newLen;
  }
  const err = vrm_set_new_addr(mm, r);
  if (err != 0) return <f64>err;
  return move_vma(mm, r);
}

/** Grow in place if possible (vma_merge_extend()), else move if allowed (expand_vma()). */
function expand_vma(mm: usize, r: Vrm): f64 {
  const v = r.vma;
  const deltaPages = <u64>(r.delta / PAGE);
  const newEnd = vma_end(v) + deltaPages;
  const next = tree_find(mm, vma_end(v));
  const free = (next == 0 || vma_start(next) >= newEnd) && <f64>newEnd * PAGE <= TASK;
  if (<f64>vma_end(v) * PAGE - r.addr == r.oldLen && free) {
    const g = vmg_new(mm, vma_end(v), newEnd, vma_pgoff(v) + vma_pages(v), vma_flags(v), vma_file(v));
    g.prev = v;
    g.next = next;
    g.anon = vma_anon(v);
    const merged = vma_merge_new_range(g);
    if (merged == 0) return -<f64>ENOMEM;
    if ((vma_flags(merged) & VM_LOCKED) != 0) r.mlocked = true;
    return r.addr;
  }
  if ((r.flags & MREMAP_MAYMOVE) == 0) return -<f64>ENOMEM;
  const err = vrm_set_new_addr(mm, r);
  if (err != 0) return <f64>err;
  return move_vma(mm, r);
}

/** Resize without a new address (mremap_at()). */
function mremap_at(mm: usize, r: Vrm): f64 {
  const type = vrm_remap_type(r);
  if (type == NO_RESIZE) return r.addr;
  if (type == SHRINK) {
    const err = do_munmap(mm, r.addr + r.newLen, r.delta);
    return err != 0 ? <f64>err : r.addr;
  }
  return expand_vma(mm, r);
}

/** VMAs that may move together with others (vma_multi_allowed()). */
function vma_multi_allowed(v: usize): bool {
  const f = vma_file(v);
  return f == 0 || file_kind(f) != FILE_DEV_ZERO;
}

const step = changetype<Vrm>(memory.data(offsetof<Vrm>(), 8));

/** MREMAP_FIXED with old_len == new_len: every VMA of the range moves, gaps kept (remap_move()). */
function remap_move(mm: usize, r: Vrm): f64 {
  const start = r.addr;
  const end = r.addr + r.oldLen;
  let targetAddr = r.newAddr;
  let res: f64 = -<f64>EFAULT;
  let seen = false;
  let lastEnd: u64 = 0;
  let v = tree_find(mm, <u64>(start / PAGE));
  while (v != 0 && <f64>vma_start(v) * PAGE < end) {
    const vmaStart = <f64>vma_start(v) * PAGE;
    const vmaEnd = <f64>vma_end(v) * PAGE;
    if (!seen && start < vmaStart) return -<f64>EFAULT;
    const addr = max(vmaStart, start);
    const len = min(end, vmaEnd) - addr;
    const offset = seen ? vmaStart - <f64>lastEnd * PAGE : 0;
    lastEnd = vma_end(v);
    if (!vma_multi_allowed(v)) {
      if (seen) return -<f64>EFAULT;
      if (vmaEnd < end) return -<f64>EFAULT;
    }
    step.vma = v;
    step.addr = addr;
    step.oldLen = len;
    step.newLen = len;
    step.flags = r.flags;
    step.newAddr = targetAddr + offset;
    step.delta = 0;
    step.mlocked = false;
    let rr: f64 = <f64>check_prep_vma(step);
    if (rr == 0) rr = mremap_to(mm, step);
    if (rr < 0) return rr;
    if (!seen) res = rr;
    seen = true;
    targetAddr = rr + len;
    if (<f64>lastEnd * PAGE >= end) break;
    v = tree_find(mm, lastEnd);
  }
  return res;
}

/** mremap_to() before the 6.16 rework (see the reference). */
function mremap_to_legacy(mm: usize, r: Vrm): f64 {
  if (offsetInPage(r.newAddr)) return -<f64>EINVAL;
  if (r.newLen > TASK || r.newAddr > TASK - r.newLen) return -<f64>EINVAL;
  if (vrm_overlaps(r)) return -<f64>EINVAL;
  if (<i64>mm_map_count(mm) + 2 >= <i64>maxMapCount - 3) return -<f64>ENOMEM;
  if ((r.flags & MREMAP_FIXED) != 0) {
    const err = do_munmap(mm, r.newAddr, r.newLen);
    if (err != 0) return <f64>err;
  }
  if (r.oldLen > r.newLen) {
    const err = do_munmap(mm, r.addr + r.newLen, r.oldLen - r.newLen);
    if (err != 0) return <f64>err;
    r.oldLen = r.newLen;
  }
  r.vma = tree_lookup(mm, <u64>(r.addr / PAGE));
  if (r.vma == 0) return -<f64>EFAULT;
  r.delta = Math.abs(r.newLen - r.oldLen);
  const err = remap_is_valid(r, vrm_remap_type(r));
  if (err != 0) return <f64>err;
  const e2 = vrm_set_new_addr(mm, r);
  if (e2 != 0) return <f64>e2;
  return move_vma(mm, r);
}

/** mremap(2) before the 6.16 rework (see the reference). */
function do_mremap_legacy(mm: usize, r: Vrm, oldLenIn: f64, newLenIn: f64): f64 {
  const flags = r.flags;
  if ((flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) != 0) return -<f64>EINVAL;
  if ((flags & MREMAP_FIXED) != 0 && (flags & MREMAP_MAYMOVE) == 0) return -<f64>EINVAL;
  if ((flags & MREMAP_DONTUNMAP) != 0 && ((flags & MREMAP_MAYMOVE) == 0 || oldLenIn != newLenIn)) return -<f64>EINVAL;
  if (offsetInPage(r.addr)) return -<f64>EINVAL;
  if (r.newLen == 0) return -<f64>EINVAL;
  r.vma = tree_lookup(mm, <u64>(r.addr / PAGE));
  if (r.vma == 0) return -<f64>EFAULT;
  if (vrm_implies_new_addr(r)) return mremap_to_legacy(mm, r);
  r.newAddr = r.addr;
  if (r.oldLen >= r.newLen) {
    if (r.oldLen == r.newLen) return r.addr;
    const err = do_munmap(mm, r.addr + r.newLen, r.oldLen - r.newLen);
    return err != 0 ? <f64>err : r.addr;
  }
  r.delta = r.newLen - r.oldLen;
  const err = remap_is_valid(r, EXPAND);
  if (err != 0) return <f64>err;
  return expand_vma(mm, r);
}

const vrm = changetype<Vrm>(memory.data(offsetof<Vrm>(), 8));

/** mremap(2) (do_mremap()): the new address or -errno. */
export function do_mremap(mm: usize, addr: f64, oldLen: f64, newLen: f64, flags: u32, newAddr: f64): f64 {
  const r = vrm;
  r.vma = 0;
  r.addr = addr;
  r.oldLen = pageAlign(oldLen);
  r.newLen = pageAlign(newLen);
  r.flags = flags;
  r.newAddr = newAddr;
  r.delta = 0;
  r.mlocked = false;
  let res: f64;
  if (sw(SW_MREMAP_LEGACY_ORDER)) {
    res = do_mremap_legacy(mm, r, oldLen, newLen);
    return res >= 0 ? mremap_populate_expand(mm, r, res) : res;
  }
  res = <f64>check_mremap_params(mm, r);
  if (res != 0) return res;
  if (sw(SW_MULTI_VMA_MREMAP) && (flags & MREMAP_FIXED) != 0 && r.oldLen == r.newLen) {
    res = remap_move(mm, r);
  } else {
    r.vma = tree_lookup(mm, <u64>(addr / PAGE));
    res = <f64>check_prep_vma(r);
    if (res != 0) return res;
    res = vrm_implies_new_addr(r) ? mremap_to(mm, r) : mremap_at(mm, r);
  }
  return res >= 0 ? mremap_populate_expand(mm, r, res) : res;
}

/**
 * An mlocked mapping that grew has its new tail faulted in (the kernel's
 * populate_expand); res is the call's result. Room for those pages is
 * checked after the move, so running out of it is ENOMEM with the move done.
 */
function mremap_populate_expand(mm: usize, r: Vrm, res: f64): f64 {
  if (!r.mlocked || r.newLen <= r.oldLen) return res;
  const first = <u64>((r.newAddr + r.oldLen) / PAGE);
  const last = <u64>((r.newAddr + r.newLen) / PAGE);
  if (!pt_reserve_range(mm, first, last)) return -<f64>ENOMEM;
  mm_populate(mm, first, last);
  return res;
}
