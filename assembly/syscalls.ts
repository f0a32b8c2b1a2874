// The syscalls' entry points (the engine's SYSCALL_DEFINEs): each decodes
// its command's arguments, reserves the memory the call may need (records,
// index nodes, page-table leaves, a file), then runs the call. A call that
// cannot get its memory fails with ENOMEM before anything changes, so that
// exhausting linear memory never leaves a half-done call. exec() in
// index.ts dispatches to them.

import { ENOMEM, MADV_MERGEABLE, MADV_POPULATE_WRITE, MADV_UNMERGEABLE, PROT_WRITE, VM_LOCKED, VM_LOCKONFAULT, VM_SHARED, VM_WRITE } from "./generated/facts";
import { CLASS_CHUNK, CLASS_VMA, block_reserve } from "./alloc";
import { dup_mmap } from "./fork";
import { prctl_set_memory_merge } from "./ksm";
import { __ksm_exit, ksm_reserve_slot } from "./ksmd";
import { do_madvise } from "./madvise";
import { read_pages, write_pages } from "./memory";
import { do_mlock, do_munlock } from "./mlock";
import { file_reserve, mm_ksm_registered, mm_map_count, mm_merge_any, mm_set_exited, vma_end, vma_flags, vma_start, vmLockedSeen } from "./mm_types";
import { PAGE, do_mmap, do_munmap, exit_mmap } from "./mmap";
import { do_mprotect } from "./mprotect";
import { do_mremap } from "./mremap";
import { leaves_spanned, pt_count_ksm, pt_leaves_in, pt_reserve, pt_reserve_fork, within_mm_pages } from "./pages";
import { tree_find, tree_next, tree_reserve } from "./tree";
import { CHUNK_CAP } from "./tree_node";

/** Argument i of the command at c (after its op and pid). */
// @ts-ignore: decorator
@inline export function arg(c: usize, i: i32): f64 {
  return load<f64>(c + (<usize>(i + 2) << 3));
}

/** Room for n new VMAs in mm (records, chunks, top array, a file); false if memory is exhausted. */
function reserve(mm: usize, n: i32): bool {
  return block_reserve(CLASS_VMA, <u32>n) && tree_reserve(mm, n) && file_reserve();
}

/**
 * Room for installing a page at every page of [first, last) that a VMA with
 * (flags & mask) == want and no flag of unless covers, and for the leaves
 * those pages spread over; false if memory is exhausted.
 */
function reserve_pages_in(mm: usize, first: u64, last: u64, mask: u32, want: u32, unless: u32): bool {
  let pages: u64 = 0;
  let leaves: u64 = 0;
  let v = tree_find(mm, first);
  while (v != 0 && vma_start(v) < last) {
    const f = vma_flags(v);
    if ((f & mask) == want && (f & unless) == 0) {
      const s = max(first, vma_start(v));
      const e = min(last, vma_end(v));
      pages += e - s;
      leaves += leaves_spanned(s, e);
    }
    // The next VMA starts at or after this one's end: past the range, stop without reading it.
    v = vma_end(v) < last ? tree_next(mm, v) : 0;
  }
  // Nothing to install (the common mprotect): nothing to reserve.
  if (pages == 0) return true;
  return within_mm_pages(mm, pages) && pt_reserve(mm, pages, leaves);
}

/**
 * Room for faulting in every page of [first, last) that a private writable
 * VMA covers (a write or a populate installs a page only there).
 */
function reserve_faults(mm: usize, first: u64, last: u64): bool {
  return reserve_pages_in(mm, first, last, VM_WRITE | VM_SHARED, VM_WRITE, 0);
}

/**
 * Room for what an mprotect adding write to [first, last) may populate: every
 * page of a private locked VMA that is not writable yet, unless it locks on
 * fault (mprotect_fixup() populates those at once). While no VMA has ever
 * been locked there is none: sys_mprotect does not call it (vmLockedSeen).
 */
function reserve_mprotect_populate(mm: usize, first: u64, last: u64): bool {
  return reserve_pages_in(mm, first, last, VM_WRITE | VM_SHARED | VM_LOCKED, VM_LOCKED, VM_LOCKONFAULT);
}

/**
 * Room for the VMAs a change of [addr, addr+len) can split off (munmap,
 * mprotect, madvise, mlock): one at each end of the range that falls inside
 * a VMA, none in between (whole VMAs change or go as they are). A change
 * that splits nothing needs no memory, so it works even when memory is full.
 */
function reserve_splits(mm: usize, addr: f64, len: f64): bool {
  // Room for both ends is the common case (and cheap to check); count only when memory is short.
  if (block_reserve(CLASS_VMA, 2) && tree_reserve(mm, 2)) return true;
  const first = first_page(addr);
  const last = last_page(addr, len);
  let n = 0;
  const a = tree_find(mm, first);
  if (a != 0 && vma_start(a) < first) n++;
  if (last > first) {
    const b = tree_find(mm, last - 1);
    if (b != 0 && vma_start(b) < last && vma_end(b) > last) n++;
  }
  return n == 0 || (block_reserve(CLASS_VMA, <u32>n) && tree_reserve(mm, n));
}

/** The pages [first, last) that the bytes [addr, addr+len) touch, cut at 2^64 (touchedPages). */
function first_page(addr: f64): u64 {
  return <u64>Math.floor(addr / PAGE);
}
function last_page(addr: f64, len: f64): u64 {
  return <u64>min(Math.ceil((addr + len) / PAGE), 4503599627370496.0);
}

/** VMAs of mm intersecting [addr, addr+len) (how many a multi-VMA mremap may move). */
function count_range(mm: usize, addr: f64, len: f64): i32 {
  let n = 0;
  const end = addr + len;
  let v = tree_find(mm, first_page(addr));
  while (v != 0 && <f64>vma_start(v) * PAGE < end && n < 1 << 20) {
    n++;
    v = tree_next(mm, v);
  }
  return n;
}

/** munmap(2). */
export function sys_munmap(mm: usize, c: usize): f64 {
  if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  return <f64>do_munmap(mm, arg(c, 0), arg(c, 1));
}

/** mprotect(2): adding write to a locked VMA populates it (mprotect_fixup()). */
export function sys_mprotect(mm: usize, c: usize): f64 {
  if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  const prot = <u32>arg(c, 2);
  // vmLockedSeen before the range's conversion to pages: while no VMA was ever locked there is nothing to populate.
  if ((prot & PROT_WRITE) != 0 && vmLockedSeen && !reserve_mprotect_populate(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)))) {
    return -<f64>ENOMEM;
  }
  return <f64>do_mprotect(mm, arg(c, 0), arg(c, 1), prot);
}

/** madvise(2): MADV_POPULATE_WRITE faults pages in, MADV_UNMERGEABLE unshares KSM pages, MADV_MERGEABLE registers with ksmd. */
export function sys_madvise(mm: usize, c: usize): f64 {
  if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  const advice = <u32>arg(c, 2);
  const first = first_page(arg(c, 0));
  const last = last_page(arg(c, 0), arg(c, 1));
  if (advice == MADV_POPULATE_WRITE && !reserve_faults(mm, first, last)) return -<f64>ENOMEM;
  if (advice == MADV_UNMERGEABLE && !pt_reserve(mm, pt_count_ksm(mm, first, last), 0)) return -<f64>ENOMEM;
  if (advice == MADV_MERGEABLE && !ksm_reserve_slot()) return -<f64>ENOMEM;
  return <f64>do_madvise(mm, arg(c, 0), arg(c, 1), advice);
}

/** mlock(2): faults the pages in. */
export function sys_mlock(mm: usize, c: usize): f64 {
  if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  if (!reserve_faults(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)))) return -<f64>ENOMEM;
  return <f64>do_mlock(mm, arg(c, 0), arg(c, 1));
}

/** munlock(2). */
export function sys_munlock(mm: usize, c: usize): f64 {
  if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  return <f64>do_munlock(mm, arg(c, 0), arg(c, 1));
}

/**
 * mmap(2): a new VMA, the pieces of the VMAs it may cut, a shmem file; and
 * under PR_SET_MEMORY_MERGE registering the mm with ksmd (an mm_slot).
 */
export function sys_mmap(mm: usize, c: usize): f64 {
  if (!reserve(mm, 3) || !ksm_reserve_slot()) return -<f64>ENOMEM;
  return do_mmap(mm, <u32>max(arg(c, 5), 0), arg(c, 0), arg(c, 1), <u32>arg(c, 2), <u32>arg(c, 3), arg(c, 4));
}

/** mremap(2): a multi-VMA move (MREMAP_FIXED) may move every VMA of the range. */
export function sys_mremap(mm: usize, c: usize): f64 {
  const n = (<u32>arg(c, 3) & 2) != 0 ? count_range(mm, arg(c, 0), arg(c, 1)) : 1;
  if (!reserve(mm, 3 * n + 6)) return -<f64>ENOMEM;
  // The moved pages' leaves at the destination (each source leaf can straddle two).
  const first = first_page(arg(c, 0));
  const leaves = pt_leaves_in(mm, first, last_page(arg(c, 0), arg(c, 1)));
  if (!pt_reserve(mm, 0, 2 * leaves + 2)) return -<f64>ENOMEM;
  return do_mremap(mm, arg(c, 0), arg(c, 1), arg(c, 2), <u32>arg(c, 3), arg(c, 4));
}

/** fork(2): the child's VMAs, index and page table, and ksm_enter's slot; the child's pid. */
export function sys_fork(mm: usize, pid: u32): f64 {
  const n = <i32>mm_map_count(mm);
  if (!block_reserve(CLASS_VMA, <u32>n + 4) || !block_reserve(CLASS_CHUNK, <u32>(n / (CHUNK_CAP / 2) + 4))) return -<f64>ENOMEM;
  // ksm_enter's slot, and the child's page table (as many leaves as the parent's, and its directory).
  if (!ksm_reserve_slot() || !pt_reserve_fork(mm)) return -<f64>ENOMEM;
  const child = dup_mmap(pid);
  return child == 0 ? -<f64>ENOMEM : <f64>child;
}

/** exit(2): __mmput(), ksm_exit() before exit_mmap(); both only free, so nothing is reserved. */
export function sys_exit(mm: usize): f64 {
  mm_set_exited(mm);
  if (mm_ksm_registered(mm)) __ksm_exit(mm);
  exit_mmap(mm);
  return 0;
}

/** prctl(PR_SET_MEMORY_MERGE): clearing it unshares the KSM pages of the mergeable VMAs (a page record each). */
export function sys_prctl_memory_merge(mm: usize, c: usize): f64 {
  const off = arg(c, 0) == 0 && mm_merge_any(mm);
  if (!ksm_reserve_slot() || (off && !pt_reserve(mm, pt_count_ksm(mm, 0, u64.MAX_VALUE), 0))) return -<f64>ENOMEM;
  return <f64>prctl_set_memory_merge(mm, arg(c, 0) != 0);
}

/** A write to [addr, addr+len) (arguments: mode, then the 64-bit value as lo, hi): faults pages in. */
export function sys_write(mm: usize, c: usize): f64 {
  const first = first_page(arg(c, 0));
  const last = last_page(arg(c, 0), arg(c, 1));
  const mode = <u32>arg(c, 2);
  const value = (<u64>arg(c, 4) << 32) | <u64>arg(c, 3);
  if (!reserve_faults(mm, first, last)) return -<f64>ENOMEM;
  return <f64>write_pages(mm, first, last, mode, value);
}

/** A read of [addr, addr+len). */
export function sys_read(mm: usize, c: usize): f64 {
  return <f64>read_pages(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)));
}
