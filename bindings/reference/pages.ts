/**
 * Page tables of private anonymous memory (after mm/memory.c): which page
 * each address maps, so that KSM has something to scan. Faults install
 * pages, writes to shared or KSM pages copy them (CoW), zaps drop mappings.
 * Shared mappings, read faults (the zero page) and page-cache pages are not
 * anonymous and are not tracked.
 */
import { MAX_MM_PAGES, VM_LOCKED, VM_LOCKONFAULT, VM_SHARED, VM_WRITE } from "../kernel/facts.js";
import { vmAny } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { KSM_ZERO_PAGE, type Mm, Page } from "./mm_types.js";

/** Page numbers of mm's present pages in address order. */
export function sorted_pages(mm: Mm): number[] {
  if (mm.sortedPages === null) mm.sortedPages = [...mm.pages.keys()].sort((a, b) => a - b);
  return mm.sortedPages;
}

/** Index of the first present page >= vpn in the sorted list. */
export function first_page_at(list: readonly number[], vpn: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < vpn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The present pages of [start, end). */
export function pages_in_range(mm: Mm, start: number, end: number): number[] {
  const list = sorted_pages(mm);
  const out: number[] = [];
  for (let i = first_page_at(list, start); i < list.length && list[i]! < end; i++) out.push(list[i]!);
  return out;
}

/** Whether faulting in up to pages more pages keeps mm within the simulated RAM (MAX_MM_PAGES). */
export function within_mm_pages(mm: Mm, pages: number): boolean {
  return pages <= MAX_MM_PAGES && mm.pages.size + pages <= MAX_MM_PAGES;
}

/**
 * Whether there is room for installing a page at every page of [first, last)
 * that a VMA with (flags & mask) === want and no flag of unless covers.
 */
function room_for_pages_in(mm: Mm, first: number, last: number, mask: number, want: number, unless: number): boolean {
  let pages = 0;
  for (let v = mm.tree.find(first); v !== null && v.start < last; v = mm.tree.next(v)) {
    if ((v.flags & mask) === want && !vmAny(v.flags, unless)) pages += Math.min(last, v.end) - Math.max(first, v.start);
  }
  return within_mm_pages(mm, pages);
}

/**
 * Whether there is room for faulting in every page of [first, last) that a
 * private writable VMA covers (only there does a write or populate install a
 * page): the check a write, mlock or MADV_POPULATE_WRITE makes first.
 */
export function fault_room(mm: Mm, first: number, last: number): boolean {
  return room_for_pages_in(mm, first, last, VM_WRITE | VM_SHARED, VM_WRITE, 0);
}

/**
 * Whether there is room for what an mprotect adding write to [first, last)
 * may populate: every page of a private locked VMA that is not writable yet
 * (mprotect_fixup() populates those for write at once), unless it locks on
 * fault. The check mprotect makes first.
 */
export function mprotect_populate_room(mm: Mm, first: number, last: number): boolean {
  return room_for_pages_in(mm, first, last, VM_WRITE | VM_SHARED | VM_LOCKED, VM_LOCKED, VM_LOCKONFAULT);
}

function set_pte(mm: Mm, vpn: number, page: Page): void {
  if (!mm.pages.has(vpn)) mm.sortedPages = null;
  mm.pages.set(vpn, page);
}

/** Drop one mapping of page (folio_remove_rmap + put): a KSM zero page only moves the counters. */
function put_page(k: Kernel, mm: Mm, page: Page): void {
  if (page === KSM_ZERO_PAGE) {
    mm.ksmZeroPages--;
    k.ksm.zeroPages--;
    return;
  }
  page.mapcount--;
}

/** Whether writing to page must copy it first: shared after fork, a KSM page, or the KSM zero page. */
function needs_cow(page: Page): boolean {
  return page === KSM_ZERO_PAGE || page.mapcount > 1 || page.ksm;
}

/** A write fault at vpn installing content (do_anonymous_page / wp_page_copy / reuse). */
export function do_write_page(k: Kernel, mm: Mm, vpn: number, content: bigint): void {
  const page = mm.pages.get(vpn);
  if (page === undefined) {
    set_pte(mm, vpn, new Page(content));
  } else if (needs_cow(page)) {
    put_page(k, mm, page);
    set_pte(mm, vpn, new Page(content));
  } else {
    page.content = content;
  }
}

/** A write-populate of vpn (FOLL_WRITE): a zero-filled page if absent, a private copy if shared. */
export function do_populate_page(k: Kernel, mm: Mm, vpn: number): void {
  const page = mm.pages.get(vpn);
  if (page === undefined) set_pte(mm, vpn, new Page(0n));
  else if (needs_cow(page)) {
    put_page(k, mm, page);
    set_pte(mm, vpn, new Page(page.content));
  }
}

/** Unmap every page of [start, end) (zap_page_range: munmap, MADV_DONTNEED, a replaced mapping). */
export function zap_page_range(k: Kernel, mm: Mm, start: number, end: number): void {
  for (const vpn of pages_in_range(mm, start, end)) {
    put_page(k, mm, mm.pages.get(vpn)!);
    mm.pages.delete(vpn);
  }
  mm.sortedPages = null;
}

/** Move the pages of [from, from+n) to [to, to+n) (move_page_tables for mremap). */
export function move_page_range(mm: Mm, from: number, to: number, n: number): void {
  const moved = pages_in_range(mm, from, from + n).map((vpn) => [vpn, mm.pages.get(vpn)!] as const);
  for (const [vpn] of moved) mm.pages.delete(vpn);
  for (const [vpn, page] of moved) mm.pages.set(vpn - from + to, page);
  mm.sortedPages = null;
}

/**
 * Share the parent's pages of [start, end) with the child (copy_page_range at
 * fork). KSM zero pages are not counted here: ksm_fork() copies the
 * parent's whole counter (dup_mmap).
 */
export function copy_page_range(parent: Mm, child: Mm, start: number, end: number): void {
  for (const vpn of pages_in_range(parent, start, end)) {
    const page = parent.pages.get(vpn)!;
    if (page !== KSM_ZERO_PAGE) page.mapcount++;
    set_pte(child, vpn, page);
  }
}

/** Replace KSM pages (and KSM zero pages) of [start, end) by private copies (break_ksm / unshare). */
export function unshare_ksm_range(k: Kernel, mm: Mm, start: number, end: number): void {
  for (const vpn of pages_in_range(mm, start, end)) {
    const page = mm.pages.get(vpn)!;
    if (page === KSM_ZERO_PAGE || page.ksm) {
      put_page(k, mm, page);
      mm.pages.set(vpn, new Page(page.content));
    }
  }
}
