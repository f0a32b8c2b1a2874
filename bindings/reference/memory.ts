/**
 * Page faults as far as the VMA layer sees them (mm/memory.c, mm/rmap.c,
 * mm/gup.c): a write fault on private memory gives the VMA an anon_vma,
 * preferably its neighbour's; a read fault never does.
 */
import { EFAULT, VM_ACCESS_FLAGS, VM_LOCKONFAULT, VM_MAYBE_GUARD, VM_READ, VM_SHARED, VM_SOFTDIRTY, VM_WRITE } from "../kernel/facts.js";
import { vmAny, vmEqualIgnoring } from "../kernel/vmflags.js";
import { FileKind } from "../engine.js";
import type { Kernel } from "./kernel.js";
import type { AnonVma, Mm, Vma } from "./mm_types.js";
import { do_populate_page, do_write_page } from "./pages.js";

/**
 * Two adjacent VMAs could share one anon_vma: same file, flags equal but for
 * access bits, contiguous pgoff (anon_vma_compatible()).
 */
function anon_vma_compatible(a: Vma, b: Vma): boolean {
  return a.end === b.start && a.file === b.file &&
    vmEqualIgnoring(a.flags, b.flags, VM_ACCESS_FLAGS | VM_SOFTDIRTY | VM_MAYBE_GUARD) &&
    b.pgoff === a.pgoff + (b.start - a.start);
}

/** old's anon_vma may be reused for a compatible neighbour if old is not a fork child (reusable_anon_vma()). */
function reusable_anon_vma(old: Vma, a: Vma, b: Vma): AnonVma | null {
  if (anon_vma_compatible(a, b) && old.anonVma !== null && old.anonChain === 1) return old.anonVma;
  return null;
}

/** A neighbour's anon_vma that vma can share: the next VMA is tried first, then prev (find_mergeable_anon_vma()). */
function find_mergeable_anon_vma(mm: Mm, vma: Vma): AnonVma | null {
  const next = mm.tree.next(vma);
  if (next !== null && next.start === vma.end) {
    const av = reusable_anon_vma(next, vma, next);
    if (av !== null) return av;
  }
  const prev = mm.tree.prev(vma);
  if (prev !== null && prev.end === vma.start) return reusable_anon_vma(prev, prev, vma);
  return null;
}

/** Give vma an anon_vma before its first private page is installed (anon_vma_prepare()). */
export function anon_vma_prepare(k: Kernel, mm: Mm, vma: Vma): void {
  if (vma.anonVma !== null) return;
  vma.anonVma = find_mergeable_anon_vma(mm, vma) ?? k.anonVmaAlloc();
  vma.anonChain = 1;
}

/** Whether page lies beyond the end of the file behind vma (a fault there is SIGBUS). */
export function beyond_eof(vma: Vma, page: number): boolean {
  const f = vma.file;
  return f !== null && f.kind !== FileKind.DevZero && vma.pgoff + (page - vma.start) >= f.sizePages;
}

/**
 * The first page of vma at or after `from` that lies beyond the end of its
 * file (a fault there is SIGBUS), or vma.end if none.
 */
function eof_page(vma: Vma, from: number): number {
  const f = vma.file;
  if (f === null || f.kind === FileKind.DevZero) return vma.end;
  return Math.max(from, Math.min(vma.end, vma.start + f.sizePages - vma.pgoff));
}

/**
 * Write every page of [first, last) in order, as process_vm_writev() would
 * (GUP without FOLL_FORCE): stops with EFAULT at the first page that is
 * unmapped, not writable or beyond EOF; earlier pages stay written. A write
 * fault on private memory gives the VMA its anon_vma (once per VMA).
 */
export function write_pages(k: Kernel, mm: Mm, first: number, last: number, content: (page: number) => bigint): number {
  let page = first;
  while (page < last) {
    const vma = mm.tree.lookup(page);
    if (vma === null || !vmAny(vma.flags, VM_WRITE)) return -EFAULT;
    const stop = Math.min(last, eof_page(vma, page));
    if (stop > page && !vmAny(vma.flags, VM_SHARED)) {
      anon_vma_prepare(k, mm, vma);
      for (let p = page; p < stop; p++) do_write_page(k, mm, p, content(p));
    }
    if (stop < Math.min(last, vma.end)) return -EFAULT;
    page = stop;
  }
  return 0;
}

/** Read one byte of every page of [first, last): EFAULT at the first unmapped, unreadable or beyond-EOF page. */
export function read_pages(mm: Mm, first: number, last: number): number {
  let page = first;
  while (page < last) {
    const vma = mm.tree.lookup(page);
    if (vma === null || !vmAny(vma.flags, VM_READ)) return -EFAULT;
    const stop = Math.min(last, vma.end);
    if (beyond_eof(vma, page) || beyond_eof(vma, stop - 1)) return -EFAULT;
    page = stop;
  }
  return 0;
}

/**
 * Fault in the pages of one VMA's part of a range (populate_vma_page_range()):
 * writable private mappings are populated for write, which prepares their
 * anon_vma if any page lies within the file. Returns 0 or -EFAULT (a page that
 * cannot be faulted).
 */
export function populate_vma_page_range(k: Kernel, mm: Mm, vma: Vma, first: number, last: number): number {
  if (vmAny(vma.flags, VM_LOCKONFAULT)) return 0;
  if (!vmAny(vma.flags, VM_ACCESS_FLAGS)) return -EFAULT;
  const write = (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
  if (beyond_eof(vma, first)) return -EFAULT;
  if (!write) return beyond_eof(vma, last - 1) ? -EFAULT : 0;
  anon_vma_prepare(k, mm, vma);
  for (let p = first; p < last; p++) {
    if (beyond_eof(vma, p)) return -EFAULT;
    do_populate_page(k, mm, p);
  }
  return 0;
}
