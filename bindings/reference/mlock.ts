/**
 * mlock(2) and munlock(2), after mm/mlock.c: set or clear VM_LOCKED on each
 * VMA of the range through vma_modify_flags(); mlock then faults the range in.
 */
import { EAGAIN, EFAULT, EINVAL, ENOMEM, PAGE_SIZE, VM_HUGETLB, VM_IO, VM_LOCKED, VM_LOCKED_MASK, VM_PFNMAP, VM_SPECIAL } from "../kernel/facts.js";
import { vmAny, vmClear } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import type { Mm, Vma } from "./mm_types.js";
import { populate_vma_page_range } from "./memory.js";
import { vma_modified_flags, vma_modify_flags } from "./vma.js";

/**
 * Apply the lock flags to [start, end) of vma (mlock_fixup()). Special and
 * hugetlb VMAs are silently left unlocked.
 */
function mlock_fixup(k: Kernel, mm: Mm, vma: Vma, prev: Vma | null, start: number, end: number, newFlags: number): Vma | number {
  const oldFlags = vma.flags;
  if (newFlags === oldFlags || vmAny(oldFlags, VM_SPECIAL | VM_HUGETLB)) return vma;
  const res = vma_modify_flags(k, mm, prev, vma, start, end, newFlags);
  if (typeof res === "number") return res;
  res.flags = vma_modified_flags(k, res, newFlags);
  return res;
}

/** Walk [start, end) applying the lock flags (apply_vma_lock_flags()); a hole gives ENOMEM. */
function apply_vma_lock_flags(k: Kernel, mm: Mm, start: number, end: number, lockFlags: number): number {
  if (end < start) return -EINVAL;
  if (end === start) return 0;
  let vma = mm.tree.lookup(start);
  if (vma === null) return -ENOMEM;
  let prev: Vma | null = start > vma.start ? vma : mm.tree.prev(vma);
  let nstart = start;
  let tmp = vma.start;
  while (vma !== null && vma.start < end) {
    if (vma.start !== tmp) return -ENOMEM;
    const newFlags = (vmClear(vma.flags, VM_LOCKED_MASK) | lockFlags) >>> 0;
    tmp = Math.min(vma.end, end);
    const res = mlock_fixup(k, mm, vma, prev, nstart, tmp, newFlags);
    if (typeof res === "number") return res;
    prev = res;
    tmp = res.end;
    nstart = tmp;
    vma = mm.tree.find(tmp);
  }
  return tmp < end ? -ENOMEM : 0;
}

/** Fault in [start, end) stopping at the first error (__mm_populate(ignore_errors = 0)). */
function __mm_populate(k: Kernel, mm: Mm, start: number, end: number): number {
  for (const vma of mm.tree.range(start, end)) {
    if (vmAny(vma.flags, VM_IO | VM_PFNMAP)) continue;
    const err = populate_vma_page_range(k, mm, vma, Math.max(start, vma.start), Math.min(end, vma.end));
    if (err) return err;
  }
  return 0;
}

/** Byte (addr, len) → the page range mlock covers: start rounded down, length rounded up. */
function lockRange(addr: number, len: number): [number, number] {
  const off = addr % PAGE_SIZE;
  const first = (addr - off) / PAGE_SIZE;
  return [first, first + Math.ceil((len + off) / PAGE_SIZE)];
}

/** mlock(2) (do_mlock()). */
export function do_mlock(k: Kernel, mm: Mm, addr: number, len: number): number {
  const [start, end] = lockRange(addr, len);
  const err = apply_vma_lock_flags(k, mm, start, end, VM_LOCKED);
  if (err) return err;
  const perr = __mm_populate(k, mm, start, end);
  // __mlock_posix_error_return(): EFAULT reads as ENOMEM, ENOMEM as EAGAIN.
  if (perr === -EFAULT) return -ENOMEM;
  if (perr === -ENOMEM) return -EAGAIN;
  return perr;
}

/** munlock(2). */
export function do_munlock(k: Kernel, mm: Mm, addr: number, len: number): number {
  const [start, end] = lockRange(addr, len);
  return apply_vma_lock_flags(k, mm, start, end, 0);
}
