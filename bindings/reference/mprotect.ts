/**
 * mprotect(2), after mm/mprotect.c: walk the VMAs of the range, change each
 * one's access bits (with the VM_ACCOUNT rules) through vma_modify_flags().
 */
import {
  EACCES, EINVAL, ENOMEM, PAGE_SIZE, VM_ACCESS_FLAGS, VM_ACCOUNT, VM_HUGETLB, VM_LOCKED, VM_NORESERVE, VM_SHARED, VM_WRITE,
} from "../kernel/facts.js";
import { vmAny, vmClear, vmSet } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { type Mm, type Vma, vma_is_anonymous } from "./mm_types.js";
import { calc_vm_prot_bits, offsetInPage, pageAlign } from "./mmap.js";
import { populate_vma_page_range } from "./memory.js";
import { vma_modified_flags, vma_modify_flags } from "./vma.js";

/**
 * Apply newFlags to [start, end) of vma (mprotect_fixup()). A private mapping
 * that becomes writable is charged and gains VM_ACCOUNT; an unfaulted
 * anonymous one that stops being writable loses it (6.7+, switch
 * mprotectUnaccount; before, it stays charged). Returns the VMA covering
 * the range (the next walk step's prev) or -errno.
 */
function mprotect_fixup(k: Kernel, mm: Mm, vma: Vma, prev: Vma | null, start: number, end: number, newFlags: number): Vma | number {
  const oldFlags = vma.flags;
  if (newFlags === oldFlags) return vma;
  if (vmAny(newFlags, VM_WRITE)) {
    if (!vmAny(oldFlags, VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)) newFlags = vmSet(newFlags, VM_ACCOUNT);
  } else if (k.switches.mprotectUnaccount && vmAny(oldFlags, VM_ACCOUNT) && vma_is_anonymous(vma) && vma.anonVma === null) {
    newFlags = vmClear(newFlags, VM_ACCOUNT);
  }
  const res = vma_modify_flags(k, mm, prev, vma, start, end, newFlags);
  if (typeof res === "number") return res;
  res.flags = vma_modified_flags(k, res, newFlags);
  // A private locked VMA becoming writable is populated for write at once.
  if ((oldFlags & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && vmAny(newFlags, VM_WRITE)) {
    populate_vma_page_range(k, mm, res, start, end);
  }
  return res;
}

/** mprotect(2) (do_mprotect_pkey()). */
export function do_mprotect(k: Kernel, mm: Mm, startAddr: number, len: number, prot: number): number {
  if (offsetInPage(startAddr)) return -EINVAL;
  if (len === 0) return 0;
  const endAddr = startAddr + pageAlign(len);
  if (endAddr <= startAddr) return -ENOMEM;
  if (prot & ~(1 | 2 | 4 | 8)) return -EINVAL;
  const start = startAddr / PAGE_SIZE;
  const end = endAddr / PAGE_SIZE;
  let vma = mm.tree.find(start);
  if (vma === null || vma.start >= end || vma.start > start) return -ENOMEM;
  let prev: Vma | null = start > vma.start ? vma : mm.tree.prev(vma);
  const protBits = calc_vm_prot_bits(prot);
  let nstart = start;
  let tmp = vma.start;
  let error = 0;
  while (vma !== null && vma.start < end) {
    if (vma.start !== tmp) {
      error = -ENOMEM;
      break;
    }
    const newFlags = (protBits | vmClear(vma.flags, VM_ACCESS_FLAGS)) >>> 0;
    // VM_MAY* shifted onto VM_*: each requested access needs its "may".
    if ((newFlags & ~(newFlags >>> 4)) & VM_ACCESS_FLAGS) {
      error = -EACCES;
      break;
    }
    tmp = Math.min(vma.end, end);
    const res = mprotect_fixup(k, mm, vma, prev, nstart, tmp, newFlags);
    if (typeof res === "number") {
      error = res;
      break;
    }
    prev = res;
    tmp = res.end;
    nstart = tmp;
    // Past the range the walk stops without reading the next VMA (for_each_vma_range).
    vma = tmp < end ? mm.tree.find(tmp) : null;
  }
  if (error === 0 && tmp < end) error = -ENOMEM;
  return error;
}
