/**
 * mmap(2) and munmap(2), after mm/mmap.c and mm/vma.c (do_mmap,
 * __mmap_region, do_vmi_munmap) and the x86 top-down address search.
 * Byte addresses at the syscall boundary, page numbers inside.
 */
import {
  EBADF, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, MMAP_BASE, PAGE_SHIFT,
  PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_GUARD_GAP_PAGES, TASK_SIZE, VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN,
  VM_LOCKED, VM_LOCKED_MASK, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ, VM_SHARED,
  VM_SOFTDIRTY, VM_SPECIAL, VM_WRITE,
} from "../kernel/facts.js";
import { vmAny, vmClear, vmSet } from "../kernel/vmflags.js";
import { FileKind } from "../engine.js";
import { ksm_vma_flags } from "./ksm.js";
import type { Kernel } from "./kernel.js";
import { File, type Mm, Vma } from "./mm_types.js";
import { populate_vma_page_range } from "./memory.js";
import { within_mm_pages, zap_page_range } from "./pages.js";
import { __split_vma, mmap_region_expand, vma_merge_new_range, vmgNew } from "./vma.js";

const PMD_PAGES = 512;
const LEGACY_MAP_MASK = 0x01 | 0x02 | 0x10 | 0x20 | 0x800 | 0x1000 | 0x4000000 | 0x100 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000;

/** PAGE_ALIGN() of a byte length. */
export function pageAlign(len: number): number {
  return Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
}

export function offsetInPage(addr: number): boolean {
  return addr % PAGE_SIZE !== 0;
}

/** calc_vm_prot_bits(): PROT_* → VM_READ/WRITE/EXEC. */
export function calc_vm_prot_bits(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

/** The lowest address a VMA's neighbour may end at: a stack keeps a guard gap below it (vm_start_gap()). */
function vm_start_gap(vma: Vma): number {
  if (vma.flags & VM_GROWSDOWN) return Math.max(0, vma.start - STACK_GUARD_GAP_PAGES);
  return vma.start;
}

/**
 * Top-down search for a free range of pages below mmap_base (vm_unmapped_area()),
 * optionally aligned to alignPages. Returns a page number or -1.
 */
function unmapped_area_topdown(mm: Mm, pages: number, alignPages: number): number {
  let high = MMAP_BASE / PAGE_SIZE;
  const vmas = mm.tree.range(0, high);
  for (let i = vmas.length; i >= 0; i--) {
    const next = vmas[i];
    const gapEnd = Math.min(high, next === undefined ? high : vm_start_gap(next));
    const gapStart = i > 0 ? vmas[i - 1]!.end : 1;
    let addr = gapEnd - pages;
    if (alignPages > 1) addr -= addr % alignPages;
    if (addr >= gapStart && addr >= 1) return addr;
    if (i > 0) high = vmas[i - 1]!.start;
  }
  return -1;
}

/**
 * get_unmapped_area(): MAP_FIXED takes addr as it is; a hint is used if the
 * range is free of VMAs and of a stack's guard gap; otherwise search top-down
 * (anonymous lengths that are multiples of 2 MiB come out 2 MiB aligned).
 * Returns a byte address or -errno.
 */
export function get_unmapped_area(mm: Mm, file: File | null, addr: number, len: number, flags: number): number {
  if (len > TASK_SIZE) return -ENOMEM;
  let res: number;
  if (flags & MAP_FIXED) {
    res = addr;
  } else {
    res = -1;
    if (addr !== 0) {
      const hint = addr - (addr % PAGE_SIZE);
      if (hint <= TASK_SIZE - len) {
        const next = mm.tree.find(hint / PAGE_SIZE);
        if (next === null || hint / PAGE_SIZE + len / PAGE_SIZE <= vm_start_gap(next)) res = hint;
      }
    }
    if (res < 0) {
      const thp = file === null && !(flags & MAP_SHARED) && addr === 0 && len % (PMD_PAGES * PAGE_SIZE) === 0;
      const page = unmapped_area_topdown(mm, len / PAGE_SIZE, thp ? PMD_PAGES : 1);
      if (page < 0) return -ENOMEM;
      res = page * PAGE_SIZE;
    }
  }
  if (res > TASK_SIZE - len) return -ENOMEM;
  if (offsetInPage(res)) return -EINVAL;
  return res;
}

/** A private writable mapping is charged against commit (accountable_mapping()). */
function accountable_mapping(flags: number): boolean {
  return (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE;
}

/**
 * Whether the KSM flag can be applied before the merge attempt: anonymous
 * memory, files with .mmap_prepare (regular files here) and shmem. Legacy
 * .mmap drivers such as /dev/zero get it only after (can_set_ksm_flags_early()).
 */
function can_set_ksm_flags_early(file: File | null): boolean {
  return file === null || file.kind !== FileKind.DevZero;
}

/**
 * Detach every VMA in [start, end), splitting the ones that straddle its ends
 * (vms_gather_munmap_vmas() + vms_complete_munmap_vmas()). A split of one VMA
 * into three is refused at the map_count limit; the end split never is.
 */
export function do_vmi_align_munmap(k: Kernel, mm: Mm, start: number, end: number): number {
  let vma = mm.tree.find(start);
  if (vma === null || vma.start >= end) return 0;
  if (start > vma.start) {
    if (end < vma.end && mm.mapCount >= k.maxMapCount) return -ENOMEM;
    __split_vma(mm, vma, start, true);
  }
  for (const v of mm.tree.range(start, end)) {
    if (v.end > end) __split_vma(mm, v, end, false);
    mm.tree.remove(v);
  }
  zap_page_range(k, mm, start, end);
  return 0;
}

/**
 * exit_mmap(): the last user of mm is gone, so every VMA is unmapped and its
 * pages zapped as munmap would (a KSM page or a page shared with a fork twin
 * loses one mapping, a KSM zero page moves the zero-page counters), with no
 * splitting or merging: the whole address space goes at once.
 */
export function exit_mmap(k: Kernel, mm: Mm): void {
  for (const v of [...mm.tree.all()]) {
    mm.tree.remove(v);
    zap_page_range(k, mm, v.start, v.end);
  }
}

/** munmap(2) (do_vmi_munmap()). */
export function do_munmap(k: Kernel, mm: Mm, addr: number, len: number): number {
  if (offsetInPage(addr) || addr > TASK_SIZE || len > TASK_SIZE - addr) return -EINVAL;
  const end = addr + pageAlign(len);
  if (end === addr) return -EINVAL;
  return do_vmi_align_munmap(k, mm, addr / PAGE_SIZE, end / PAGE_SIZE);
}

/**
 * Map [addr, addr+len) with the given flags (__mmap_region()): unmap what is
 * there, try to merge with the neighbours, else insert a new VMA. Returns the
 * resulting VMA or -errno.
 */
function __mmap_region(k: Kernel, mm: Mm, file: File | null, addr: number, len: number, vmFlags: number, pgoff: number): Vma | number {
  const start = addr / PAGE_SIZE;
  const end = start + len / PAGE_SIZE;
  const err = do_vmi_align_munmap(k, mm, start, end);
  if (err) return err;
  if (accountable_mapping(vmFlags)) vmFlags = vmSet(vmFlags, VM_ACCOUNT);
  const early = k.switches.ksmEarly && can_set_ksm_flags_early(file);
  if (early) vmFlags = ksm_vma_flags(k, mm, file, vmFlags);

  const vmg = vmgNew(k, mm, start, end, pgoff, vmFlags, file);
  vmg.prev = mm.tree.findPrev(start);
  vmg.next = mm.tree.find(start);
  let vma: Vma | null = null;
  if (vmg.prev !== null || vmg.next !== null) vma = k.switches.mmapExpandNextFirst ? mmap_region_expand(vmg) : vma_merge_new_range(vmg);
  if (vma === null) {
    // __mmap_new_vma(): the driver's .mmap hook runs, then the late KSM check.
    let vmaFile = file;
    // shmem_zero_setup(): shared anonymous memory is a new shmem file as long as the mapping.
    if ((file === null || file.kind === FileKind.DevZero) && vmAny(vmFlags, VM_SHARED)) vmaFile = new File(k.nextFileId++, FileKind.ShmemAnon, end - start);
    if (!early) vmFlags = ksm_vma_flags(k, mm, file, vmFlags);
    vma = new Vma(start, end, pgoff, vmFlags, vmaFile);
    mm.tree.insert(vma);
  }
  // __mmap_complete(): special mappings are never locked; the result is soft-dirty (if configured).
  if (vmAny(vma.flags, VM_LOCKED) && vmAny(vma.flags, VM_SPECIAL)) vma.flags = vmClear(vma.flags, VM_LOCKED_MASK);
  if (k.switches.softDirty) vma.flags = vmSet(vma.flags, VM_SOFTDIRTY);
  return vma;
}

/** mmap(2) (ksys_mmap_pgoff() + do_mmap()). Returns the address or -errno. */
export function do_mmap(k: Kernel, mm: Mm, file: File | null, addr: number, len: number, prot: number, flags: number, offset: number): number {
  if (offsetInPage(offset)) return -EINVAL;
  if (!(flags & MAP_ANONYMOUS)) {
    if (file === null) return -EBADF;
  } else {
    file = null;
  }
  if (len === 0) return -EINVAL;
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  len = pageAlign(len);
  if (len === 0 || len > 2 ** 64 - PAGE_SIZE) return -ENOMEM;
  let pgoff = offset / PAGE_SIZE;
  if (pgoff + len / PAGE_SIZE >= 2 ** 52) return -EOVERFLOW;
  if (mm.mapCount > k.maxMapCount) return -ENOMEM;

  const res = get_unmapped_area(mm, file, addr, len, flags);
  if (res < 0) return res;
  addr = res;
  if (flags & MAP_FIXED_NOREPLACE) {
    const v = mm.tree.find(addr / PAGE_SIZE);
    if (v !== null && v.start < (addr + len) / PAGE_SIZE) return -EEXIST;
  }

  let vmFlags = calc_vm_prot_bits(prot) | (flags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) | (flags & MAP_LOCKED ? VM_LOCKED : 0) |
    mm.defFlags | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  vmFlags >>>= 0;
  const type = flags & MAP_TYPE;
  if (file !== null) {
    if (type === MAP_SHARED || type === 3) {
      if (type === MAP_SHARED) flags &= LEGACY_MAP_MASK;
      if (flags & ~LEGACY_MAP_MASK) return -EOPNOTSUPP;
      vmFlags = vmSet(vmFlags, VM_SHARED | VM_MAYSHARE);
    } else if (type !== MAP_PRIVATE) {
      return -EINVAL;
    }
    if (file.kind === FileKind.Regular && pgoff + len / PAGE_SIZE > 2 ** (63 - PAGE_SHIFT)) return -EOVERFLOW;
    if (vmAny(vmFlags, VM_GROWSDOWN)) return -EINVAL;
  } else {
    // MAP_SHARED_VALIDATE is for files only.
    if (type === MAP_SHARED) {
      if (vmAny(vmFlags, VM_GROWSDOWN)) return -EINVAL;
      pgoff = 0;
      vmFlags = vmSet(vmFlags, VM_SHARED | VM_MAYSHARE);
    } else if (type === MAP_PRIVATE) {
      pgoff = addr / PAGE_SIZE;
    } else {
      return -EINVAL;
    }
  }
  if (flags & MAP_NORESERVE) vmFlags = vmSet(vmFlags, VM_NORESERVE);

  // The pages a populate will install (private writable memory) must fit the simulated RAM, checked before anything changes.
  const populate = vmAny(vmFlags, VM_LOCKED) || (flags & MAP_POPULATE) !== 0;
  if (populate && vmAny(vmFlags, VM_WRITE) && !vmAny(vmFlags, VM_SHARED) && !within_mm_pages(mm, len / PAGE_SIZE)) return -ENOMEM;
  const vma = __mmap_region(k, mm, file, addr, len, vmFlags, pgoff);
  if (typeof vma === "number") return vma;
  if (vmAny(vma.flags, VM_LOCKED) || (flags & MAP_POPULATE)) mm_populate(k, mm, addr / PAGE_SIZE, (addr + len) / PAGE_SIZE);
  return addr;
}

/** Fault in every page of [first, last), errors ignored (mm_populate()). */
export function mm_populate(k: Kernel, mm: Mm, first: number, last: number): void {
  for (const vma of mm.tree.range(first, last)) {
    populate_vma_page_range(k, mm, vma, Math.max(first, vma.start), Math.min(last, vma.end));
  }
}
