// Page faults, mirroring bindings/reference/memory.ts: a write fault on
// private memory gives the VMA an anon_vma, preferably its neighbour's, and
// installs the page (pages.ts); a read fault never does.

import { EFAULT, EINVAL, VM_ACCESS_FLAGS, VM_LOCKONFAULT, VM_MAYBE_GUARD, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_WRITE } from "./generated/facts";
import { anon_vma_alloc } from "./kernel";
import {
  FILE_DEV_ZERO, file_kind, file_size_pages, vma_anon, vma_chain, vma_end, vma_file, vma_flags, vma_pgoff,
  vma_set_anon, vma_set_chain, vma_start,
} from "./mm_types";
import { do_populate_page, do_write_page } from "./pages";
import { tree_lookup, tree_next, tree_prev } from "./tree";

/** Two adjacent VMAs could share one anon_vma (anon_vma_compatible()). */
function anon_vma_compatible(a: usize, b: usize): bool {
  return vma_end(a) == vma_start(b) && vma_file(a) == vma_file(b) &&
    ((vma_flags(a) ^ vma_flags(b)) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY | VM_MAYBE_GUARD)) == 0 &&
    vma_pgoff(b) == vma_pgoff(a) + (vma_start(b) - vma_start(a));
}

/** old's anon_vma may be reused for a compatible neighbour if old is not a fork child (reusable_anon_vma()). */
function reusable_anon_vma(old: usize, a: usize, b: usize): u32 {
  if (anon_vma_compatible(a, b) && vma_anon(old) != 0 && vma_chain(old) == 1) return vma_anon(old);
  return 0;
}

/** A neighbour's anon_vma that v can share: next first, then prev (find_mergeable_anon_vma()). */
function find_mergeable_anon_vma(mm: usize, v: usize): u32 {
  const next = tree_next(mm, v);
  if (next != 0 && vma_start(next) == vma_end(v)) {
    const av = reusable_anon_vma(next, v, next);
    if (av != 0) return av;
  }
  const prev = tree_prev(mm, v);
  if (prev != 0 && vma_end(prev) == vma_start(v)) return reusable_anon_vma(prev, prev, v);
  return 0;
}

/** Give v an anon_vma before its first private page is installed (anon_vma_prepare()). */
export function anon_vma_prepare(mm: usize, v: usize): void {
  if (vma_anon(v) != 0) return;
  let av = find_mergeable_anon_vma(mm, v);
  if (av == 0) av = anon_vma_alloc();
  vma_set_anon(v, av);
  vma_set_chain(v, 1);
}

/** Whether page lies beyond the end of the file behind v (a fault there is SIGBUS). */
export function beyond_eof(v: usize, page: u64): bool {
  const f = vma_file(v);
  return f != 0 && file_kind(f) != FILE_DEV_ZERO && vma_pgoff(v) + (page - vma_start(v)) >= file_size_pages(f);
}

/** The first page of v at or after from that lies beyond the end of its file, or v's end (eof_page). */
function eof_page(v: usize, from: u64): u64 {
  const f = vma_file(v);
  if (f == 0 || file_kind(f) == FILE_DEV_ZERO) return vma_end(v);
  const limit = <i64>vma_start(v) + <i64>file_size_pages(f) - <i64>vma_pgoff(v);
  const capped = min<i64>(<i64>vma_end(v), limit);
  return <u64>max<i64>(<i64>from, capped);
}

/** Content modes of write_pages (ReferenceEngine.writePages): every word = arg, the page's address, page i gets i mod arg + 1. */
export const WRITE_VALUE: u32 = 0;
export const WRITE_ADDRESS: u32 = 1;
export const WRITE_CYCLE: u32 = 2;

/**
 * Write every page of [first, last) in order (see the reference): EFAULT at
 * the first bad page. Private pages get their content by mode (any other
 * mode writes arg): the value, the page's byte address, or (p - first) mod
 * arg + 1.
 */
export function write_pages(mm: usize, first: u64, last: u64, mode: u32, arg: u64): i64 {
  // A cycle of 0 values gives no page a content: refused before any page is looked at.
  if (mode == WRITE_CYCLE && arg == 0) return -<i64>EINVAL;
  let page = first;
  while (page < last) {
    const v = tree_lookup(mm, page);
    if (v == 0 || (vma_flags(v) & VM_WRITE) == 0) return -<i64>EFAULT;
    const stop = min(last, eof_page(v, page));
    if (stop > page && (vma_flags(v) & VM_SHARED) == 0) {
      anon_vma_prepare(mm, v);
      if (mode == WRITE_ADDRESS) {
        for (let p = page; p < stop; p++) do_write_page(mm, p, p << 12);
      } else if (mode == WRITE_CYCLE) {
        for (let p = page; p < stop; p++) do_write_page(mm, p, (p - first) % arg + 1);
      } else {
        for (let p = page; p < stop; p++) do_write_page(mm, p, arg);
      }
    }
    if (stop < min(last, vma_end(v))) return -<i64>EFAULT;
    page = stop;
  }
  return 0;
}

/** Read one byte of every page of [first, last): EFAULT at the first unmapped, unreadable or beyond-EOF page. */
export function read_pages(mm: usize, first: u64, last: u64): i64 {
  let page = first;
  while (page < last) {
    const v = tree_lookup(mm, page);
    if (v == 0 || (vma_flags(v) & VM_READ) == 0) return -<i64>EFAULT;
    const stop = min(last, vma_end(v));
    if (beyond_eof(v, page) || beyond_eof(v, stop - 1)) return -<i64>EFAULT;
    page = stop;
  }
  return 0;
}

/** Fault in one VMA's part of a range (populate_vma_page_range()); 0 or -EFAULT. */
export function populate_vma_page_range(mm: usize, v: usize, first: u64, last: u64): i64 {
  const f = vma_flags(v);
  if ((f & VM_LOCKONFAULT) != 0) return 0;
  if ((f & VM_ACCESS_FLAGS) == 0) return -<i64>EFAULT;
  const write = (f & (VM_WRITE | VM_SHARED)) == VM_WRITE;
  if (beyond_eof(v, first)) return -<i64>EFAULT;
  if (!write) return beyond_eof(v, last - 1) ? -<i64>EFAULT : 0;
  anon_vma_prepare(mm, v);
  for (let p = first; p < last; p++) {
    if (beyond_eof(v, p)) return -<i64>EFAULT;
    do_populate_page(mm, p);
  }
  return 0;
}
