// mmap(2) and munmap(2), mirroring bindings/reference/mmap.ts. Argument
// checks run on f64 byte values exactly as the reference does on JS numbers;
// the VMA work runs on u64 page numbers.

import {
  EBADF, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN,
  MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, MMAP_BASE, PROT_EXEC, PROT_READ,
  PROT_WRITE, STACK_GUARD_GAP_PAGES, SW_KSM_EARLY, SW_MMAP_EXPAND_NEXT_FIRST, SW_SOFT_DIRTY, TASK_SIZE, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_LOCKED,
  VM_LOCKED_MASK, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ, VM_SHARED, VM_SOFTDIRTY,
  VM_SPECIAL, VM_WRITE,
} from "./generated/facts";
import { ksm_vma_flags } from "./ksm";
import { maxMapCount, sw } from "./kernel";
import { populate_vma_page_range } from "./memory";
import { pt_reserve_range, zap_page_range } from "./pages";
import {
  FILE_DEV_ZERO, FILE_REGULAR, FILE_SHMEM_ANON, file_kind, file_new, mm_def_flags, mm_map_count, vma_end, vma_flags,
  vma_free, vma_new, vma_set_flags, vma_start,
} from "./mm_types";
import { tree_find, tree_find_prev, tree_insert, tree_next, tree_prev, tree_remove } from "./tree";
import { __split_vma, mmap_region_expand, vma_merge_new_range, vmg_new } from "./vma";

export const PAGE: f64 = 4096;
const PMD_PAGES: u64 = 512;
const LEGACY_MAP_MASK: u32 = 0x01 | 0x02 | 0x10 | 0x20 | 0x800 | 0x1000 | 0x4000000 | 0x100 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000;
const TASK: f64 = <f64>TASK_SIZE;

/** PAGE_ALIGN() of a byte length. */
// @ts-ignore: decorator
@inline export function pageAlign(len: f64): f64 {
  return Math.ceil(len / PAGE) * PAGE;
}

/**
 * addr % PAGE for non-negative f64, computed without fmod (slow in Wasm);
 * exact, since dividing by a power of two and flooring are exact.
 */
// @ts-ignore: decorator
@inline export function pageRem(addr: f64): f64 {
  return addr - Math.floor(addr / PAGE) * PAGE;
}

// @ts-ignore: decorator
@inline export function offsetInPage(addr: f64): bool {
  return pageRem(addr) != 0;
}

/** calc_vm_prot_bits(): PROT_* → VM_READ/WRITE/EXEC. */
export function calc_vm_prot_bits(prot: u32): u32 {
  return ((prot & PROT_READ) != 0 ? VM_READ : 0) | ((prot & PROT_WRITE) != 0 ? VM_WRITE : 0) | ((prot & PROT_EXEC) != 0 ? VM_EXEC : 0);
}

/** The lowest address a neighbour may end at: a stack keeps a guard gap (vm_start_gap()). */
function vm_start_gap(v: usize): u64 {
  const s = vma_start(v);
  if ((vma_flags(v) & VM_GROWSDOWN) != 0) return s > <u64>STACK_GUARD_GAP_PAGES ? s - <u64>STACK_GUARD_GAP_PAGES : 0;
  return s;
}

/** Top-down search for a free range below mmap_base (vm_unmapped_area()); a page or -1. */
function unmapped_area_topdown(mm: usize, pages: u64, alignPages: u64): i64 {
  let high: u64 = MMAP_BASE / 4096;
  let next: usize = 0;
  let v = tree_find_prev(mm, high);
  for (;;) {
    const gapEnd: u64 = next == 0 ? high : min(high, vm_start_gap(next));
    const gapStart: u64 = v != 0 ? vma_end(v) : 1;
    if (gapEnd >= pages) {
      let addr = gapEnd - pages;
      if (alignPages > 1) addr -= addr % alignPages;
      if (addr >= gapStart && addr >= 1) return <i64>addr;
    }
    if (v == 0) return -1;
    high = vma_start(v);
    next = v;
    v = tree_prev(mm, v);
  }
  return -1;
}

/** get_unmapped_area(): a byte address or -errno (see the reference). */
export function get_unmapped_area(mm: usize, file: u32, addr: f64, len: f64, flags: u32): f64 {
  if (len > TASK) return -<f64>ENOMEM;
  let res: f64;
  if ((flags & MAP_FIXED) != 0) {
    res = addr;
  } else {
    res = -1;
    if (addr != 0) {
      const hint = addr - pageRem(addr);
      if (hint <= TASK - len) {
        const next = tree_find(mm, <u64>(hint / PAGE));
        if (next == 0 || <u64>(hint / PAGE) + <u64>(len / PAGE) <= vm_start_gap(next)) res = hint;
      }
    }
    if (res < 0) {
      const thp = file == 0 && (flags & MAP_SHARED) == 0 && addr == 0 && <u64>(len / PAGE) % PMD_PAGES == 0;
      const page = unmapped_area_topdown(mm, <u64>(len / PAGE), thp ? PMD_PAGES : 1);
      if (page < 0) return -<f64>ENOMEM;
      res = <f64>page * PAGE;
    }
  }
  if (res > TASK - len) return -<f64>ENOMEM;
  if (offsetInPage(res)) return -<f64>EINVAL;
  return res;
}

/** A private writable mapping is charged against commit (accountable_mapping()). */
function accountable_mapping(flags: u32): bool {
  return (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE;
}

/** Whether the KSM flag can be applied before the merge attempt (can_set_ksm_flags_early()). */
function can_set_ksm_flags_early(file: u32): bool {
  return file == 0 || file_kind(file) != FILE_DEV_ZERO;
}

/** Detach every VMA in [start, end), splitting the straddlers (see the reference). */
export function do_vmi_align_munmap(mm: usize, start: u64, end: u64): i64 {
  let v = tree_find(mm, start);
  if (v == 0 || vma_start(v) >= end) return 0;
  if (start > vma_start(v)) {
    if (end < vma_end(v) && mm_map_count(mm) >= maxMapCount) return -<i64>ENOMEM;
    __split_vma(mm, v, start, true);
  }
  v = tree_find(mm, start);
  while (v != 0 && vma_start(v) < end) {
    if (vma_end(v) > end) __split_vma(mm, v, end, false);
    const next = tree_next(mm, v);
    tree_remove(mm, v);
    vma_free(v);
    v = next;
  }
  zap_page_range(mm, start, end);
  return 0;
}

/**
 * exit_mmap(): the last user of mm is gone, so every VMA is unmapped and its
 * pages zapped as munmap would (a KSM page or a page shared with a fork twin
 * loses one mapping, a KSM zero page moves the zero-page counters), with no
 * splitting or merging: the whole address space goes at once. Only frees.
 */
export function exit_mmap(mm: usize): void {
  let v = tree_find(mm, 0);
  while (v != 0) {
    const next = tree_next(mm, v);
    const start = vma_start(v);
    const end = vma_end(v);
    tree_remove(mm, v);
    vma_free(v);
    zap_page_range(mm, start, end);
    v = next;
  }
}

/** munmap(2) (do_vmi_munmap()). */
export function do_munmap(mm: usize, addr: f64, len: f64): i64 {
  if (offsetInPage(addr) || addr > TASK || len > TASK - addr) return -<i64>EINVAL;
  const end = addr + pageAlign(len);
  if (end == addr) return -<i64>EINVAL;
  return do_vmi_align_munmap(mm, <u64>(addr / PAGE), <u64>(end / PAGE));
}

/** Map [addr, addr+len) (__mmap_region()); the resulting VMA or a negative errno as usize. */
function __mmap_region(mm: usize, file: u32, addr: f64, len: f64, vmFlagsIn: u32, pgoff: u64): usize {
  let vmFlags = vmFlagsIn;
  const start = <u64>(addr / PAGE);
  const end = start + <u64>(len / PAGE);
  const err = do_vmi_align_munmap(mm, start, end);
  if (err != 0) return <usize>err;
  if (accountable_mapping(vmFlags)) vmFlags |= VM_ACCOUNT;
  const early = sw(SW_KSM_EARLY) && can_set_ksm_flags_early(file);
  if (early) vmFlags = ksm_vma_flags(mm, file, vmFlags);

  const g = vmg_new(mm, start, end, pgoff, vmFlags, file);
  g.prev = tree_find_prev(mm, start);
  g.next = tree_find(mm, start);
  let v: usize = 0;
  if (g.prev != 0 || g.next != 0) v = sw(SW_MMAP_EXPAND_NEXT_FIRST) ? mmap_region_expand(g) : vma_merge_new_range(g);
  if (v == 0) {
    // __mmap_new_vma(): the driver's .mmap hook runs, then the late KSM check.
    let vmaFile = file;
    if ((file == 0 || file_kind(file) == FILE_DEV_ZERO) && (vmFlags & VM_SHARED) != 0) vmaFile = file_new(FILE_SHMEM_ANON, end - start);
    if (!early) vmFlags = ksm_vma_flags(mm, file, vmFlags);
    v = vma_new(start, end, pgoff, vmFlags, vmaFile);
    tree_insert(mm, v);
  }
  if ((vma_flags(v) & VM_LOCKED) != 0 && (vma_flags(v) & VM_SPECIAL) != 0) vma_set_flags(v, vma_flags(v) & ~VM_LOCKED_MASK);
  if (sw(SW_SOFT_DIRTY)) vma_set_flags(v, vma_flags(v) | VM_SOFTDIRTY);
  return v;
}

/** mmap(2) (ksys_mmap_pgoff() + do_mmap()): the address or -errno. */
export function do_mmap(mm: usize, fileIn: u32, addrIn: f64, lenIn: f64, prot: u32, flagsIn: u32, offset: f64): f64 {
  let file = fileIn;
  let addr = addrIn;
  let len = lenIn;
  let flags = flagsIn;
  if (offsetInPage(offset)) return -<f64>EINVAL;
  if ((flags & MAP_ANONYMOUS) == 0) {
    if (file == 0) return -<f64>EBADF;
  } else {
    file = 0;
  }
  if (len == 0) return -<f64>EINVAL;
  if ((flags & MAP_FIXED_NOREPLACE) != 0) flags |= MAP_FIXED;
  len = pageAlign(len);
  if (len == 0 || len > 18446744073709551616.0 - PAGE) return -<f64>ENOMEM;
  let pgoff = offset / PAGE;
  if (pgoff + len / PAGE >= 4503599627370496.0) return -<f64>EOVERFLOW;
  if (mm_map_count(mm) > maxMapCount) return -<f64>ENOMEM;

  const res = get_unmapped_area(mm, file, addr, len, flags);
  if (res < 0) return res;
  addr = res;
  if ((flags & MAP_FIXED_NOREPLACE) != 0) {
    const v = tree_find(mm, <u64>(addr / PAGE));
    if (v != 0 && vma_start(v) < <u64>((addr + len) / PAGE)) return -<f64>EEXIST;
  }

  let vmFlags = calc_vm_prot_bits(prot) | ((flags & MAP_GROWSDOWN) != 0 ? VM_GROWSDOWN : 0) |
    ((flags & MAP_LOCKED) != 0 ? VM_LOCKED : 0) | mm_def_flags(mm) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  const type = flags & MAP_TYPE;
  if (file != 0) {
    if (type == MAP_SHARED || type == 3) {
      if (type == MAP_SHARED) flags &= LEGACY_MAP_MASK;
      if ((flags & ~LEGACY_MAP_MASK) != 0) return -<f64>EOPNOTSUPP;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
    } else if (type != MAP_PRIVATE) {
      return -<f64>EINVAL;
    }
    if (file_kind(file) == FILE_REGULAR && pgoff + len / PAGE > 2251799813685248.0) return -<f64>EOVERFLOW;
    if ((vmFlags & VM_GROWSDOWN) != 0) return -<f64>EINVAL;
  } else {
    // MAP_SHARED_VALIDATE is for files only.
    if (type == MAP_SHARED) {
      if ((vmFlags & VM_GROWSDOWN) != 0) return -<f64>EINVAL;
      pgoff = 0;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
    } else if (type == MAP_PRIVATE) {
      pgoff = addr / PAGE;
    } else {
      return -<f64>EINVAL;
    }
  }
  if ((flags & MAP_NORESERVE) != 0) vmFlags |= VM_NORESERVE;

  // The pages a populate will install (private writable memory), reserved before anything changes.
  const populate = (vmFlags & VM_LOCKED) != 0 || (flags & MAP_POPULATE) != 0;
  if (populate && (vmFlags & (VM_WRITE | VM_SHARED)) == VM_WRITE && !pt_reserve_range(mm, <u64>(addr / PAGE), <u64>((addr + len) / PAGE))) {
    return -<f64>ENOMEM;
  }
  const v = __mmap_region(mm, file, addr, len, vmFlags, <u64>pgoff);
  if (<isize>v < 0) return <f64><isize>v;
  if ((vma_flags(v) & VM_LOCKED) != 0 || (flags & MAP_POPULATE) != 0) mm_populate(mm, <u64>(addr / PAGE), <u64>((addr + len) / PAGE));
  return addr;
}

/** Fault in every page of [first, last), errors ignored (mm_populate()). */
export function mm_populate(mm: usize, first: u64, last: u64): void {
  if (first >= last) return;
  let v = tree_find(mm, first);
  while (v != 0 && vma_start(v) < last) {
    populate_vma_page_range(mm, v, max(first, vma_start(v)), min(last, vma_end(v)));
    v = tree_next(mm, v);
  }
}
