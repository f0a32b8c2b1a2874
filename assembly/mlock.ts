// mlock(2) and munlock(2), mirroring bindings/reference/mlock.ts.

import { EAGAIN, EFAULT, EINVAL, ENOMEM, VM_HUGETLB, VM_IO, VM_LOCKED, VM_LOCKED_MASK, VM_PFNMAP, VM_SPECIAL } from "./generated/facts";
import { populate_vma_page_range } from "./memory";
import { pageRem } from "./mmap";
import { vma_end, vma_flags, vma_set_flags, vma_start } from "./mm_types";
import { tree_find, tree_lookup, tree_next, tree_prev } from "./tree";
import { is_err, vma_modified_flags, vma_modify_flags } from "./vma";

/** Apply the lock flags to [start, end) of v; special and hugetlb VMAs are left alone (mlock_fixup()). */
function mlock_fixup(mm: usize, v: usize, prev: usize, start: u64, end: u64, newFlags: u32): usize {
  const oldFlags = vma_flags(v);
  if (newFlags == oldFlags || (oldFlags & (VM_SPECIAL | VM_HUGETLB)) != 0) return v;
  const res = vma_modify_flags(mm, prev, v, start, end, newFlags);
  if (is_err(res)) return res;
  vma_set_flags(res, vma_modified_flags(res, newFlags));
  return res;
}

/** Walk [start, end) applying the lock flags (apply_vma_lock_flags()). */
function apply_vma_lock_flags(mm: usize, start: u64, end: u64, lockFlags: u32): i64 {
  if (end < start) return -<i64>EINVAL;
  if (end == start) return 0;
  let v = tree_lookup(mm, start);
  if (v == 0) return -<i64>ENOMEM;
  let prev: usize = start > vma_start(v) ? v : tree_prev(mm, v);
  let nstart = start;
  let tmp = vma_start(v);
  while (v != 0 && vma_start(v) < end) {
    if (vma_start(v) != tmp) return -<i64>ENOMEM;
    const newFlags = (vma_flags(v) & ~VM_LOCKED_MASK) | lockFlags;
    tmp = min(vma_end(v), end);
    const res = mlock_fixup(mm, v, prev, nstart, tmp, newFlags);
    if (is_err(res)) return <i64><isize>res;
    prev = res;
    tmp = vma_end(res);
    nstart = tmp;
    v = tree_find(mm, tmp);
  }
  return tmp < end ? -<i64>ENOMEM : 0;
}

/** Fault in [start, end), stopping at the first error (__mm_populate(ignore_errors = 0)). */
function __mm_populate(mm: usize, start: u64, end: u64): i64 {
  if (start >= end) return 0;
  let v = tree_find(mm, start);
  while (v != 0 && vma_start(v) < end) {
    if ((vma_flags(v) & (VM_IO | VM_PFNMAP)) == 0) {
      const err = populate_vma_page_range(mm, v, max(start, vma_start(v)), min(end, vma_end(v)));
      if (err != 0) return err;
    }
    v = tree_next(mm, v);
  }
  return 0;
}

/** The pages mlock covers: start rounded down, length rounded up (lockRange). */
function lock_first(addr: f64): u64 {
  return <u64>((addr - pageRem(addr)) / 4096);
}
function lock_last(addr: f64, len: f64): u64 {
  const off = pageRem(addr);
  return lock_first(addr) + <u64>Math.ceil((len + off) / 4096);
}

/** mlock(2) (do_mlock()). */
export function do_mlock(mm: usize, addr: f64, len: f64): i64 {
  const start = lock_first(addr);
  const end = lock_last(addr, len);
  const err = apply_vma_lock_flags(mm, start, end, VM_LOCKED);
  if (err != 0) return err;
  const perr = __mm_populate(mm, start, end);
  if (perr == -<i64>EFAULT) return -<i64>ENOMEM;
  if (perr == -<i64>ENOMEM) return -<i64>EAGAIN;
  return perr;
}

/** munlock(2). */
export function do_munlock(mm: usize, addr: f64, len: f64): i64 {
  return apply_vma_lock_flags(mm, lock_first(addr), lock_last(addr, len), 0);
}
