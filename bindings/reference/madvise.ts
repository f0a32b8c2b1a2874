/**
 * madvise(2), after mm/madvise.c: flag-changing advices go through
 * vma_modify_flags() VMA by VMA; the others act on pages and never change the
 * VMA layout. Holes give ENOMEM at the end, after the mapped parts are done.
 */
import {
  EACCES, EAGAIN, EFAULT, EINVAL, ENOMEM, MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP,
  MADV_DONTFORK, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_KEEPONFORK, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
  MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL, MADV_UNMERGEABLE,
  MADV_WILLNEED, MADV_WIPEONFORK, PAGE_SIZE, VM_DONTCOPY, VM_DONTDUMP, VM_HUGEPAGE, VM_HUGETLB, VM_IO, VM_LOCKED,
  VM_MAYSHARE, VM_MAYWRITE, VM_MERGEABLE, VM_NOHUGEPAGE, VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEQ_READ, VM_SHARED, VM_SPECIAL,
  VM_WIPEONFORK, VM_WRITE,
} from "../kernel/facts.js";
import { vmAny, vmClear, vmSet } from "../kernel/vmflags.js";
import { FileKind } from "../engine.js";
import { ksm_compatible } from "./ksm.js";
import type { Kernel } from "./kernel.js";
import { type Mm, type Vma, vma_is_anonymous } from "./mm_types.js";
import { anon_vma_prepare, beyond_eof } from "./memory.js";
import { do_populate_page, unshare_ksm_range, zap_page_range } from "./pages.js";
import { offsetInPage, pageAlign } from "./mmap.js";
import { vma_modified_flags, vma_modify_flags } from "./vma.js";

const VALID_ADVICE = new Set([0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);

/** A step of the walk: the VMA that now covers the range (next step's prev), or -errno. */
type Step = Vma | number;

/** The new vm_flags for a flag-changing advice, or -errno; null if the advice does not change flags. */
function madvise_new_flags(k: Kernel, vma: Vma, advice: number): number | null {
  const f = vma.flags;
  switch (advice) {
    case MADV_NORMAL: return vmClear(f, VM_RAND_READ | VM_SEQ_READ);
    case MADV_SEQUENTIAL: return vmSet(vmClear(f, VM_RAND_READ), VM_SEQ_READ);
    case MADV_RANDOM: return vmSet(vmClear(f, VM_SEQ_READ), VM_RAND_READ);
    case MADV_DONTFORK: return vmSet(f, VM_DONTCOPY);
    case MADV_DOFORK:
      if (vmAny(f, VM_IO)) return -EINVAL;
      return vmClear(f, VM_DONTCOPY);
    case MADV_WIPEONFORK:
      // Only for anonymous memory: any vm_file (even /dev/zero) or a shared mapping is refused.
      if (vma.file !== null || vmAny(f, VM_SHARED)) return -EINVAL;
      return vmSet(f, VM_WIPEONFORK);
    case MADV_KEEPONFORK: return vmClear(f, VM_WIPEONFORK);
    case MADV_DONTDUMP: return vmSet(f, VM_DONTDUMP);
    case MADV_DODUMP:
      if (!vmAny(f, VM_HUGETLB) && vmAny(f, VM_SPECIAL)) return -EINVAL;
      return vmClear(f, VM_DONTDUMP);
    case MADV_HUGEPAGE: return vmSet(vmClear(f, VM_NOHUGEPAGE), VM_HUGEPAGE);
    case MADV_NOHUGEPAGE: return vmSet(vmClear(f, VM_HUGEPAGE), VM_NOHUGEPAGE);
    case MADV_MERGEABLE:
      // ksm_madvise(): already mergeable or incompatible VMAs are left alone.
      if (vmAny(f, VM_MERGEABLE) || !ksm_compatible(k, vma.file, f)) return f;
      return vmSet(f, VM_MERGEABLE);
    case MADV_UNMERGEABLE: return vmClear(f, VM_MERGEABLE);
    default: return null;
  }
}

/** Advices that act on pages only: their per-VMA refusals (madvise_dontneed_free, madvise_remove, ...). */
function madvise_page_advice(vma: Vma, advice: number): number {
  const f = vma.flags;
  switch (advice) {
    case MADV_DONTNEED:
      return vmAny(f, VM_PFNMAP | VM_LOCKED) && !vmAny(f, VM_HUGETLB) ? -EINVAL : 0;
    case 24: // MADV_DONTNEED_LOCKED
      return vmAny(f, VM_PFNMAP) && !vmAny(f, VM_HUGETLB) ? -EINVAL : 0;
    case MADV_FREE:
      if (vmAny(f, VM_PFNMAP | VM_LOCKED) && !vmAny(f, VM_HUGETLB)) return -EINVAL;
      return vma_is_anonymous(vma) ? 0 : -EINVAL;
    case MADV_REMOVE:
      if (vmAny(f, VM_LOCKED)) return -EINVAL;
      if (vma.file === null) return -EINVAL;
      return (f & (VM_SHARED | VM_MAYWRITE)) === (VM_SHARED | VM_MAYWRITE) ? 0 : -EACCES;
    case MADV_COLD:
    case MADV_PAGEOUT:
      return vmAny(f, VM_LOCKED | VM_PFNMAP | VM_HUGETLB) ? -EINVAL : 0;
    case MADV_COLLAPSE:
      return madvise_collapse(vma);
    case MADV_WILLNEED:
    default:
      return 0;
  }
}

/**
 * MADV_COLLAPSE needs a VMA allowed to hold a PMD-sized THP: one that spans an
 * aligned 2 MiB range, is not VM_NOHUGEPAGE or special, and (anonymous) has an
 * anon_vma (thp_vma_allowable_order() with TVA_FORCED_COLLAPSE).
 */
function madvise_collapse(vma: Vma): number {
  const PMD_PAGES = 512;
  const firstAligned = Math.ceil(vma.start / PMD_PAGES) * PMD_PAGES;
  if (firstAligned + PMD_PAGES > vma.end) return -EINVAL;
  if (vmAny(vma.flags, VM_NOHUGEPAGE | VM_SPECIAL)) return -EINVAL;
  if (vma_is_anonymous(vma)) return vma.anonVma === null ? -EINVAL : 0;
  return vma.file?.kind === FileKind.ShmemAnon ? 0 : -EINVAL;
}

/** One VMA's part [start, end) of the range (madvise_vma_behavior()). */
function madvise_vma_behavior(k: Kernel, mm: Mm, vma: Vma, prev: Vma | null, start: number, end: number, advice: number): Step {
  const newFlags = madvise_new_flags(k, vma, advice);
  if (newFlags === null) {
    const err = madvise_page_advice(vma, advice);
    if (err) return err;
    // MADV_DONTNEED(_LOCKED) zaps the pages; the others leave them (no swap here to page out to).
    if (advice === MADV_DONTNEED || advice === 24) zap_page_range(k, mm, start, end);
    return vma;
  }
  if (newFlags < 0) return newFlags;
  // ksm_madvise(): registering with ksmd, or breaking KSM pages before the flag goes.
  if (advice === MADV_MERGEABLE && newFlags !== vma.flags) k.ksm.ksm_enter(mm);
  if (advice === MADV_UNMERGEABLE && vmAny(vma.flags, VM_MERGEABLE)) unshare_ksm_range(k, mm, start, end);
  // madvise_update_vma(): nothing to do if the flags do not change.
  if (newFlags === vma.flags) return vma;
  const res = vma_modify_flags(k, mm, prev, vma, start, end, newFlags);
  // Resource failures (the map_count limit included) are reported as EAGAIN.
  if (typeof res === "number") return res === -ENOMEM ? -EAGAIN : res;
  res.flags = vma_modified_flags(k, res, newFlags);
  return res;
}

/**
 * MADV_POPULATE_READ/WRITE (madvise_populate()): fault in every page; holes
 * give ENOMEM, missing permissions EINVAL, SIGBUS (beyond EOF) EFAULT.
 */
function madvise_populate(k: Kernel, mm: Mm, start: number, end: number, write: boolean): number {
  let page = start;
  while (page < end) {
    const vma = mm.tree.lookup(page);
    if (vma === null) return -ENOMEM;
    if (vmAny(vma.flags, VM_IO | VM_PFNMAP)) return -EINVAL;
    if (write ? !vmAny(vma.flags, VM_WRITE) : !vmAny(vma.flags, VM_READ)) return -EINVAL;
    const stop = Math.min(end, vma.end);
    if (beyond_eof(vma, page)) return -EFAULT;
    const priv = write && !vmAny(vma.flags, VM_SHARED | VM_MAYSHARE);
    if (!priv) {
      if (beyond_eof(vma, stop - 1)) return -EFAULT;
      page = stop;
      continue;
    }
    anon_vma_prepare(k, mm, vma);
    for (; page < stop; page++) {
      if (beyond_eof(vma, page)) return -EFAULT;
      do_populate_page(k, mm, page);
    }
  }
  return 0;
}

/** madvise(2) (do_madvise() + madvise_walk_vmas()). */
export function do_madvise(k: Kernel, mm: Mm, startAddr: number, lenIn: number, advice: number): number {
  if (!VALID_ADVICE.has(advice)) return -EINVAL;
  if (offsetInPage(startAddr)) return -EINVAL;
  const len = pageAlign(lenIn);
  const endAddr = startAddr + len;
  if (endAddr < startAddr) return -EINVAL;
  if (endAddr === startAddr) return 0;
  const start = startAddr / PAGE_SIZE;
  const end = endAddr / PAGE_SIZE;
  const populate = advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE;
  // 6.10+: one madvise_populate() call for the whole range. Before (switch
  // madvisePopulatePerVma), the walk below calls it per VMA like any advice.
  if (populate && !k.switches.madvisePopulatePerVma) return madvise_populate(k, mm, start, end, advice === MADV_POPULATE_WRITE);

  let vma = mm.tree.find(start);
  let prev: Vma | null = vma !== null && start > vma.start ? vma : vma !== null ? mm.tree.prev(vma) : mm.tree.findPrev(start);
  let rangeStart = start;
  let unmappedError = 0;
  for (;;) {
    if (vma === null) return -ENOMEM;
    if (rangeStart < vma.start) {
      unmappedError = -ENOMEM;
      rangeStart = vma.start;
      if (rangeStart >= end) break;
    }
    const rangeEnd = Math.min(vma.end, end);
    let res: Vma | number;
    if (populate) {
      const err = madvise_populate(k, mm, rangeStart, rangeEnd, advice === MADV_POPULATE_WRITE);
      res = err !== 0 ? err : vma;
    } else {
      res = madvise_vma_behavior(k, mm, vma, prev, rangeStart, rangeEnd, advice);
    }
    if (typeof res === "number") return res;
    prev = res;
    rangeStart = Math.max(rangeEnd, res.end);
    if (rangeStart >= end) break;
    vma = mm.tree.find(rangeStart);
  }
  return unmappedError;
}
