// mprotect(2), mirroring bindings/reference/mprotect.ts.

import { EACCES, EINVAL, ENOMEM, SW_MPROTECT_UNACCOUNT, VM_ACCESS_FLAGS, VM_ACCOUNT, VM_HUGETLB, VM_LOCKED, VM_NORESERVE, VM_SHARED, VM_WRITE } from "./generated/facts";
import { sw } from "./kernel";
import { populate_vma_page_range } from "./memory";
import { PAGE, calc_vm_prot_bits, offsetInPage, pageAlign } from "./mmap";
import { vma_anon, vma_end, vma_flags, vma_is_anonymous, vma_set_flags, vma_start } from "./mm_types";
import { tree_find, tree_prev } from "./tree";
import { is_err, vma_modified_flags, vma_modify_flags } from "./vma";

/** Apply newFlags to [start, end) of v with the VM_ACCOUNT rules (mprotect_fixup()). */
function mprotect_fixup(mm: usize, v: usize, prev: usize, start: u64, end: u64, newFlagsIn: u32): usize {
  let newFlags = newFlagsIn;
  const oldFlags = vma_flags(v);
  if (newFlags == oldFlags) return v;
  if ((newFlags & VM_WRITE) != 0) {
    if ((oldFlags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)) == 0) newFlags |= VM_ACCOUNT;
  } else if (sw(SW_MPROTECT_UNACCOUNT) && (oldFlags & VM_ACCOUNT) != 0 && vma_is_anonymous(v) && vma_anon(v) == 0) {
    // 6.7+: an unfaulted anonymous VMA that stops being writable is no longer charged.
    newFlags &= ~VM_ACCOUNT;
  }
  const res = vma_modify_flags(mm, prev, v, start, end, newFlags);
  if (is_err(res)) return res;
  vma_set_flags(res, vma_modified_flags(res, newFlags));
  if ((oldFlags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED && (newFlags & VM_WRITE) != 0) {
    populate_vma_page_range(mm, res, start, end);
  }
  return res;
}

/** mprotect(2) (do_mprotect_pkey()). */
export function do_mprotect(mm: usize, startAddr: f64, len: f64, prot: u32): i64 {
  if (offsetInPage(startAddr)) return -<i64>EINVAL;
  if (len == 0) return 0;
  const endAddr = startAddr + pageAlign(len);
  if (endAddr <= startAddr) return -<i64>ENOMEM;
  if ((prot & ~(1 | 2 | 4 | 8)) != 0) return -<i64>EINVAL;
  const start = <u64>(startAddr / PAGE);
  const end = <u64>(endAddr / PAGE);
  let v = tree_find(mm, start);
  if (v == 0 || vma_start(v) >= end || vma_start(v) > start) return -<i64>ENOMEM;
  let prev: usize = start > vma_start(v) ? v : tree_prev(mm, v);
  const protBits = calc_vm_prot_bits(prot);
  let nstart = start;
  let tmp = vma_start(v);
  let error: i64 = 0;
  while (v != 0 && vma_start(v) < end) {
    if (vma_start(v) != tmp) {
      error = -<i64>ENOMEM;
      break;
    }
    const newFlags = protBits | (vma_flags(v) & ~VM_ACCESS_FLAGS);
    // VM_MAY* shifted onto VM_*: each requested access needs its "may".
    if (((newFlags & ~(newFlags >> 4)) & VM_ACCESS_FLAGS) != 0) {
      error = -<i64>EACCES;
      break;
    }
    tmp = min(vma_end(v), end);
    const res = mprotect_fixup(mm, v, prev, nstart, tmp, newFlags);
    if (is_err(res)) {
      error = <i64><isize>res;
      break;
    }
    prev = res;
    tmp = vma_end(res);
    nstart = tmp;
    // Past the range the walk stops without reading the next VMA (for_each_vma_range).
    v = tmp < end ? tree_find(mm, tmp) : 0;
  }
  if (error == 0 && tmp < end) error = -<i64>ENOMEM;
  return error;
}
