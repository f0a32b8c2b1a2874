// madvise(2), mirroring bindings/reference/madvise.ts.

import {
  EACCES, EAGAIN, EFAULT, EINVAL, ENOMEM, MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP,
  MADV_DONTFORK, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_KEEPONFORK, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
  MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL, MADV_UNMERGEABLE,
  MADV_WIPEONFORK, SW_MADVISE_POPULATE_PER_VMA, VM_DONTCOPY, VM_DONTDUMP, VM_HUGEPAGE, VM_HUGETLB, VM_IO, VM_LOCKED, VM_MAYSHARE, VM_MAYWRITE,
  VM_MERGEABLE, VM_NOHUGEPAGE, VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEQ_READ, VM_SHARED, VM_SPECIAL, VM_WIPEONFORK,
  VM_WRITE,
} from "./generated/facts";
import { ksm_compatible } from "./ksm";
import { sw } from "./kernel";
import { ksm_enter } from "./ksmd";
import { do_populate_page, unshare_ksm_range, zap_page_range } from "./pages";
import { anon_vma_prepare, beyond_eof } from "./memory";
import { PAGE, offsetInPage, pageAlign } from "./mmap";
import { FILE_SHMEM_ANON, file_kind, vma_anon, vma_end, vma_file, vma_flags, vma_is_anonymous, vma_set_flags, vma_start } from "./mm_types";
import { tree_find, tree_lookup, tree_prev } from "./tree";
import { is_err, vma_modified_flags, vma_modify_flags } from "./vma";

/** Valid advice numbers: 0-4, 8-25. */
function valid_advice(a: u32): bool {
  return a <= 4 || (a >= 8 && a <= 25);
}

/** No flag change for this advice. */
const NO_FLAGS: i64 = -1 << 40;

/** The new vm_flags for a flag-changing advice, a negative errno, or NO_FLAGS. */
function madvise_new_flags(v: usize, advice: u32): i64 {
  const f = vma_flags(v);
  switch (advice) {
    case MADV_NORMAL: return <i64>(f & ~(VM_RAND_READ | VM_SEQ_READ));
    case MADV_SEQUENTIAL: return <i64>((f & ~VM_RAND_READ) | VM_SEQ_READ);
    case MADV_RANDOM: return <i64>((f & ~VM_SEQ_READ) | VM_RAND_READ);
    case MADV_DONTFORK: return <i64>(f | VM_DONTCOPY);
    case MADV_DOFORK:
      if ((f & VM_IO) != 0) return -<i64>EINVAL;
      return <i64>(f & ~VM_DONTCOPY);
    case MADV_WIPEONFORK:
      if (vma_file(v) != 0 || (f & VM_SHARED) != 0) return -<i64>EINVAL;
      return <i64>(f | VM_WIPEONFORK);
    case MADV_KEEPONFORK: return <i64>(f & ~VM_WIPEONFORK);
    case MADV_DONTDUMP: return <i64>(f | VM_DONTDUMP);
    case MADV_DODUMP:
      if ((f & VM_HUGETLB) == 0 && (f & VM_SPECIAL) != 0) return -<i64>EINVAL;
      return <i64>(f & ~VM_DONTDUMP);
    case MADV_HUGEPAGE: return <i64>((f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE);
    case MADV_NOHUGEPAGE: return <i64>((f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE);
    case MADV_MERGEABLE:
      if ((f & VM_MERGEABLE) != 0 || !ksm_compatible(vma_file(v), f)) return <i64>f;
      return <i64>(f | VM_MERGEABLE);
    case MADV_UNMERGEABLE: return <i64>(f & ~VM_MERGEABLE);
    default: return NO_FLAGS;
  }
}

/** MADV_COLLAPSE needs a VMA allowed to hold a PMD-sized THP (madvise_collapse()). */
function madvise_collapse(v: usize): i64 {
  const PMD_PAGES: u64 = 512;
  const s = vma_start(v);
  const firstAligned = (s + PMD_PAGES - 1) / PMD_PAGES * PMD_PAGES;
  if (firstAligned + PMD_PAGES > vma_end(v)) return -<i64>EINVAL;
  if ((vma_flags(v) & (VM_NOHUGEPAGE | VM_SPECIAL)) != 0) return -<i64>EINVAL;
  if (vma_is_anonymous(v)) return vma_anon(v) == 0 ? -<i64>EINVAL : 0;
  return file_kind(vma_file(v)) == FILE_SHMEM_ANON ? 0 : -<i64>EINVAL;
}

/** Advices that act on pages only: their per-VMA refusals. */
function madvise_page_advice(v: usize, advice: u32): i64 {
  const f = vma_flags(v);
  switch (advice) {
    case MADV_DONTNEED:
      return (f & (VM_PFNMAP | VM_LOCKED)) != 0 && (f & VM_HUGETLB) == 0 ? -<i64>EINVAL : 0;
    case 24: // MADV_DONTNEED_LOCKED
      return (f & VM_PFNMAP) != 0 && (f & VM_HUGETLB) == 0 ? -<i64>EINVAL : 0;
    case MADV_FREE:
      if ((f & (VM_PFNMAP | VM_LOCKED)) != 0 && (f & VM_HUGETLB) == 0) return -<i64>EINVAL;
      return vma_is_anonymous(v) ? 0 : -<i64>EINVAL;
    case MADV_REMOVE:
      if ((f & VM_LOCKED) != 0) return -<i64>EINVAL;
      if (vma_file(v) == 0) return -<i64>EINVAL;
      return (f & (VM_SHARED | VM_MAYWRITE)) == (VM_SHARED | VM_MAYWRITE) ? 0 : -<i64>EACCES;
    case MADV_COLD:
    case MADV_PAGEOUT:
      return (f & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) != 0 ? -<i64>EINVAL : 0;
    case MADV_COLLAPSE:
      return madvise_collapse(v);
    default:
      return 0;
  }
}

/** One VMA's part of the range (madvise_vma_behavior()): the VMA now covering it, or an errno as usize. */
function madvise_vma_behavior(mm: usize, v: usize, prev: usize, start: u64, end: u64, advice: u32): usize {
  const nf = madvise_new_flags(v, advice);
  if (nf == NO_FLAGS) {
    const err = madvise_page_advice(v, advice);
    if (err != 0) return <usize><isize>err;
    // MADV_DONTNEED(_LOCKED) zaps the pages; the others leave them (no swap here to page out to).
    if (advice == MADV_DONTNEED || advice == 24) zap_page_range(mm, start, end);
    return v;
  }
  if (nf < 0) return <usize><isize>nf;
  const newFlags = <u32>nf;
  // ksm_madvise(): registering with ksmd, or breaking KSM pages before the flag goes.
  if (advice == MADV_MERGEABLE && newFlags != vma_flags(v)) ksm_enter(mm);
  if (advice == MADV_UNMERGEABLE && (vma_flags(v) & VM_MERGEABLE) != 0) unshare_ksm_range(mm, start, end);
  if (newFlags == vma_flags(v)) return v;
  const res = vma_modify_flags(mm, prev, v, start, end, newFlags);
  if (is_err(res)) return <isize>res == -<isize>ENOMEM ? <usize>(-<isize>EAGAIN) : res;
  vma_set_flags(res, vma_modified_flags(res, newFlags));
  return res;
}

/** MADV_POPULATE_READ/WRITE (madvise_populate()). */
function madvise_populate(mm: usize, start: u64, end: u64, write: bool): i64 {
  let page = start;
  while (page < end) {
    const v = tree_lookup(mm, page);
    if (v == 0) return -<i64>ENOMEM;
    const f = vma_flags(v);
    if ((f & (VM_IO | VM_PFNMAP)) != 0) return -<i64>EINVAL;
    if (write ? (f & VM_WRITE) == 0 : (f & VM_READ) == 0) return -<i64>EINVAL;
    const stop = min(end, vma_end(v));
    if (beyond_eof(v, page)) return -<i64>EFAULT;
    const priv = write && (f & (VM_SHARED | VM_MAYSHARE)) == 0;
    if (!priv) {
      if (beyond_eof(v, stop - 1)) return -<i64>EFAULT;
      page = stop;
      continue;
    }
    anon_vma_prepare(mm, v);
    for (; page < stop; page++) {
      if (beyond_eof(v, page)) return -<i64>EFAULT;
      do_populate_page(mm, page);
    }
  }
  return 0;
}

/** madvise(2) (do_madvise() + madvise_walk_vmas()). */
export function do_madvise(mm: usize, startAddr: f64, lenIn: f64, advice: u32): i64 {
  if (!valid_advice(advice)) return -<i64>EINVAL;
  if (offsetInPage(startAddr)) return -<i64>EINVAL;
  const len = pageAlign(lenIn);
  const endAddr = startAddr + len;
  if (endAddr < startAddr) return -<i64>EINVAL;
  if (endAddr == startAddr) return 0;
  const start = <u64>(startAddr / PAGE);
  const end = <u64>(endAddr / PAGE);
  const populate = advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE;
  // 6.10+: one madvise_populate() for the whole range; before (SW_MADVISE_POPULATE_PER_VMA) one per VMA of the walk.
  if (populate && !sw(SW_MADVISE_POPULATE_PER_VMA)) return madvise_populate(mm, start, end, advice == MADV_POPULATE_WRITE);

  let v = tree_find(mm, start);
  let prev: usize = v != 0 && start > vma_start(v) ? v : v != 0 ? tree_prev(mm, v) : 0;
  let rangeStart = start;
  let unmappedError: i64 = 0;
  for (;;) {
    if (v == 0) return -<i64>ENOMEM;
    if (rangeStart < vma_start(v)) {
      unmappedError = -<i64>ENOMEM;
      rangeStart = vma_start(v);
      if (rangeStart >= end) break;
    }
    const rangeEnd = min(vma_end(v), end);
    let res: usize;
    if (populate) {
      const err = madvise_populate(mm, rangeStart, rangeEnd, advice == MADV_POPULATE_WRITE);
      if (err != 0) return err;
      res = v;
    } else {
      res = madvise_vma_behavior(mm, v, prev, rangeStart, rangeEnd, advice);
    }
    if (is_err(res)) return <i64><isize>res;
    prev = res;
    rangeStart = max(rangeEnd, vma_end(res));
    if (rangeStart >= end) break;
    v = tree_find(mm, rangeStart);
  }
  return unmappedError;
}
