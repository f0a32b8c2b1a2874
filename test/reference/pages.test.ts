/**
 * The page model of the reference engine (bindings/reference/pages.ts): write
 * faults install pages, writes to fork-shared, KSM or KSM-zero pages copy
 * them, munmap/MADV_DONTNEED zap, mremap moves pages with the range
 * (DONTUNMAP leaves the source empty), fork shares pages except in DONTCOPY
 * and WIPEONFORK VMAs. First on hand-made Mm objects through the functions
 * themselves, then as ksmd sees it through the facade (pages are internal:
 * rmap_items and merges show which pages exist and which are shared).
 */
import { describe, expect, it } from "vitest";
import { type AddressSpace, Simulation } from "../../bindings/facade.js";
import type { KsmKnobName } from "../../bindings/kernel/kstrto.js";
import { resolveKernel } from "../../bindings/kernel/versions.js";
import { Kernel } from "../../bindings/reference/kernel.js";
import { KSM_ZERO_PAGE, Mm, Page } from "../../bindings/reference/mm_types.js";
import {
  copy_page_range, do_populate_page, do_write_page, first_page_at, move_page_range, pages_in_range, sorted_pages, unshare_ksm_range,
  zap_page_range,
} from "../../bindings/reference/pages.js";
import { a, ok, P } from "../support/facade.js";

function kernel(): Kernel {
  return new Kernel(resolveKernel("6.18"));
}

/** An mm whose pages at the given page numbers hold the given contents (private, mapcount 1). */
function mmWith(k: Kernel, pid: number, entries: [number, bigint][]): Mm {
  const mm = new Mm(pid);
  for (const [vpn, c] of entries) do_write_page(k, mm, vpn, c);
  return mm;
}

/** A KSM zero page installed at vpn, counted as KSM does (try_to_merge_one_page with the zero page). */
function putZeroPage(k: Kernel, mm: Mm, vpn: number): void {
  const old = mm.pages.get(vpn);
  if (old !== undefined) old.mapcount--;
  mm.pages.set(vpn, KSM_ZERO_PAGE);
  mm.sortedPages = null;
  mm.ksmZeroPages++;
  k.ksm.zeroPages++;
}

function contents(mm: Mm): [number, bigint][] {
  return sorted_pages(mm).map((vpn) => [vpn, mm.pages.get(vpn)!.content]);
}

describe("pages.ts: address-ordered lookups", () => {
  it("sorted_pages lists present pages in address order and is rebuilt after a new page", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[30, 1n], [10, 2n], [20, 3n]]);
    expect(sorted_pages(mm)).toEqual([10, 20, 30]);
    do_write_page(k, mm, 15, 4n);
    expect(sorted_pages(mm)).toEqual([10, 15, 20, 30]);
    // Rewriting a present page keeps the list.
    const list = sorted_pages(mm);
    do_write_page(k, mm, 15, 5n);
    expect(sorted_pages(mm)).toBe(list);
  });

  it("first_page_at is a lower bound; pages_in_range is [start, end)", () => {
    const list = [2, 4, 4, 9];
    expect([0, 2, 3, 4, 5, 9, 10].map((v) => first_page_at(list, v))).toEqual([0, 0, 1, 1, 3, 3, 4]);
    const k = kernel();
    const mm = mmWith(k, 1, [[1, 1n], [3, 1n], [5, 1n], [7, 1n]]);
    expect(pages_in_range(mm, 3, 7)).toEqual([3, 5]);
    expect(pages_in_range(mm, 0, 1)).toEqual([]);
    expect(pages_in_range(mm, 7, 8)).toEqual([7]);
  });
});

describe("pages.ts: write faults", () => {
  it("a write to an absent page installs a new private page with the content", () => {
    const k = kernel();
    const mm = new Mm(1);
    do_write_page(k, mm, 5, 42n);
    const page = mm.pages.get(5)!;
    expect(page).toBeInstanceOf(Page);
    expect([page.content, page.mapcount, page.ksm]).toEqual([42n, 1, false]);
  });

  it("a write to a private page rewrites it in place (no copy)", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[5, 1n]]);
    const page = mm.pages.get(5)!;
    do_write_page(k, mm, 5, 2n);
    expect(mm.pages.get(5)).toBe(page);
    expect(page.content).toBe(2n);
  });

  it("a write to a fork-shared page copies it; the other mapping keeps the old page and content", () => {
    const k = kernel();
    const parent = mmWith(k, 1, [[5, 1n]]);
    const child = new Mm(2);
    copy_page_range(parent, child, 0, 10);
    const shared = parent.pages.get(5)!;
    expect(child.pages.get(5)).toBe(shared);
    expect(shared.mapcount).toBe(2);
    do_write_page(k, child, 5, 2n);
    expect(child.pages.get(5)).not.toBe(shared);
    expect(child.pages.get(5)!.content).toBe(2n);
    expect(parent.pages.get(5)).toBe(shared);
    expect([shared.content, shared.mapcount]).toEqual([1n, 1]);
    // Now private again: the parent's next write needs no copy.
    do_write_page(k, parent, 5, 3n);
    expect(parent.pages.get(5)).toBe(shared);
  });

  it("a write to a KSM page copies it, even when it is the only mapping", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[5, 1n]]);
    const kpage = mm.pages.get(5)!;
    kpage.ksm = true;
    do_write_page(k, mm, 5, 1n);
    expect(mm.pages.get(5)).not.toBe(kpage);
    expect(kpage.mapcount).toBe(0);
    expect(mm.pages.get(5)!.ksm).toBe(false);
  });

  it("a write to a KSM zero page installs a new page and lowers ksm_zero_pages (mm and global)", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[5, 0n], [6, 0n]]);
    putZeroPage(k, mm, 5);
    putZeroPage(k, mm, 6);
    expect([mm.ksmZeroPages, k.ksm.zeroPages]).toEqual([2, 2]);
    do_write_page(k, mm, 5, 9n);
    expect(mm.pages.get(5)).not.toBe(KSM_ZERO_PAGE);
    expect(mm.pages.get(5)!.content).toBe(9n);
    expect([mm.ksmZeroPages, k.ksm.zeroPages]).toEqual([1, 1]);
    expect(KSM_ZERO_PAGE.content).toBe(0n);
  });

  it("populate-write: an absent page becomes a zero-filled page, a shared one a private copy, a private one stays", () => {
    const k = kernel();
    const parent = mmWith(k, 1, [[1, 7n], [2, 8n]]);
    const child = new Mm(2);
    copy_page_range(parent, child, 1, 2); // page 1 shared, page 2 private to the parent
    const shared = parent.pages.get(1)!;
    const priv = parent.pages.get(2)!;
    do_populate_page(k, parent, 0);
    do_populate_page(k, parent, 1);
    do_populate_page(k, parent, 2);
    expect(parent.pages.get(0)!.content).toBe(0n);
    expect(parent.pages.get(1)).not.toBe(shared);
    expect(parent.pages.get(1)!.content).toBe(7n);
    expect(shared.mapcount).toBe(1);
    expect(child.pages.get(1)).toBe(shared);
    expect(parent.pages.get(2)).toBe(priv);
    expect(priv.content).toBe(8n);
    putZeroPage(k, parent, 0);
    do_populate_page(k, parent, 0);
    expect(parent.pages.get(0)).not.toBe(KSM_ZERO_PAGE);
    expect([parent.ksmZeroPages, k.ksm.zeroPages]).toEqual([0, 0]);
  });
});

describe("pages.ts: zap, move, fork copy, unshare", () => {
  it("zap_page_range drops the mappings of [start, end) only", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[1, 1n], [2, 2n], [3, 3n], [4, 4n]]);
    const other = new Mm(2);
    copy_page_range(mm, other, 2, 3);
    const shared = mm.pages.get(2)!;
    putZeroPage(k, mm, 3);
    zap_page_range(k, mm, 2, 4);
    expect(contents(mm)).toEqual([[1, 1n], [4, 4n]]);
    expect(shared.mapcount).toBe(1);
    expect(other.pages.get(2)).toBe(shared);
    expect([mm.ksmZeroPages, k.ksm.zeroPages]).toEqual([0, 0]);
  });

  it("move_page_range moves the same page objects to the new addresses and leaves the source empty", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[10, 1n], [12, 2n], [20, 9n]]);
    const p10 = mm.pages.get(10)!;
    const p12 = mm.pages.get(12)!;
    move_page_range(mm, 10, 100, 5);
    expect(sorted_pages(mm)).toEqual([20, 100, 102]);
    expect(mm.pages.get(100)).toBe(p10);
    expect(mm.pages.get(102)).toBe(p12);
    expect([p10.mapcount, p12.mapcount]).toEqual([1, 1]);
  });

  it("move_page_range to lower addresses", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[100, 1n], [101, 2n]]);
    move_page_range(mm, 100, 50, 2);
    expect(contents(mm)).toEqual([[50, 1n], [51, 2n]]);
  });

  it("copy_page_range shares the pages of [start, end) (mapcount + 1); KSM zero pages are counted by ksm_fork, not here", () => {
    const k = kernel();
    const parent = mmWith(k, 1, [[1, 1n], [2, 0n], [3, 3n], [9, 9n]]);
    putZeroPage(k, parent, 2);
    const child = new Mm(2);
    copy_page_range(parent, child, 0, 5);
    expect(sorted_pages(child)).toEqual([1, 2, 3]);
    expect(child.pages.get(1)).toBe(parent.pages.get(1));
    expect(child.pages.get(2)).toBe(KSM_ZERO_PAGE);
    expect(parent.pages.get(1)!.mapcount).toBe(2);
    expect(parent.pages.get(9)!.mapcount).toBe(1);
    expect([parent.ksmZeroPages, child.ksmZeroPages, k.ksm.zeroPages]).toEqual([1, 0, 1]);
  });

  it("unshare_ksm_range replaces KSM pages and KSM zero pages by private copies, leaves the rest", () => {
    const k = kernel();
    const mm = mmWith(k, 1, [[1, 5n], [2, 5n], [3, 0n], [4, 6n]]);
    const kpage = mm.pages.get(1)!;
    kpage.ksm = true;
    mm.pages.get(2)!.mapcount--;
    mm.pages.set(2, kpage);
    kpage.mapcount++;
    putZeroPage(k, mm, 3);
    const plain = mm.pages.get(4)!;
    unshare_ksm_range(k, mm, 0, 10);
    expect(kpage.mapcount).toBe(0);
    expect(mm.pages.get(1)).not.toBe(kpage);
    expect(mm.pages.get(2)).not.toBe(kpage);
    expect(mm.pages.get(1)).not.toBe(mm.pages.get(2));
    expect(contents(mm)).toEqual([[1, 5n], [2, 5n], [3, 0n], [4, 6n]]);
    expect(mm.pages.get(3)).not.toBe(KSM_ZERO_PAGE);
    expect(mm.pages.get(4)).toBe(plain);
    expect([mm.ksmZeroPages, k.ksm.zeroPages]).toEqual([0, 0]);
    for (const vpn of [1, 2, 3]) expect([vpn, mm.pages.get(vpn)!.ksm, mm.pages.get(vpn)!.mapcount]).toEqual([vpn, false, 1]);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the facade, observed by ksmd.

function newSim(): Simulation {
  const sim = new Simulation();
  for (const [k, v] of [["smart_scan", "0"], ["pages_to_scan", "5000"], ["run", "1"]] as const) ok(sim.ksmWrite(k as KsmKnobName, v));
  return sim;
}

function region(p: AddressSpace, start: number, pages: number): void {
  ok(p.mmap(a(start), pages * P, "rw-", "private|anon|fixed"));
  ok(p.madvise(a(start), pages * P, "mergeable"));
}

function fill(p: AddressSpace, start: number, pages: number, c: bigint | "unique"): void {
  ok(p.write(a(start), pages * P, c === "unique" ? "unique" : { value: c }));
}

function scan(sim: Simulation, n = 1): void {
  expect(sim.ksmScan(n)).toBe(true);
}

const rmap = (p: AddressSpace): number => p.ksmStat().ksmRmapItems;

function stat(sim: Simulation) {
  const s = sim.ksmStat();
  return { shared: s.pagesShared, sharing: s.pagesSharing, unshared: s.pagesUnshared, volatile: s.pagesVolatile };
}

describe("the page model as ksmd sees it (facade)", () => {
  it("a write installs one page per written page; rewriting adds none", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 50);
    fill(p, 0, 7, "unique");
    fill(p, 20, 3, "unique");
    fill(p, 0, 7, "unique");
    scan(sim);
    expect(rmap(p)).toBe(10);
  });

  it("a write in the child copies the fork-shared page: the parent's page keeps its content", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 2);
    fill(p, 0, 1, 0x41n);
    fill(p, 1, 1, 0x42n);
    const c = ok(sim.fork(p, "child"));
    fill(c, 1, 1, 0x41n); // the child's page 1 becomes a private 'A'; the parent's page 1 stays 'B'
    scan(sim, 3);
    // 'A': parent page 0, child page 0 (same physical page as the parent's), child page 1 -> one KSM page
    // with three mappings; the parent's 'B' has no partner (its twin was copied away).
    expect(stat(sim)).toEqual({ shared: 1, sharing: 2, unshared: 1, volatile: 0 });
  });

  it("munmap and MADV_DONTNEED zap: the pages disappear from the scan; a write after DONTNEED faults in a fresh page", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 30);
    fill(p, 0, 30, 0x41n);
    scan(sim, 2);
    expect(stat(sim)).toMatchObject({ shared: 1, sharing: 29 });
    ok(p.munmap(a(0), 5 * P));
    ok(p.madvise(a(10), 5 * P, "dontneed"));
    scan(sim);
    expect(rmap(p)).toBe(20);
    expect(stat(sim)).toMatchObject({ shared: 1, sharing: 19 });
    // The range is still mapped: a write faults in new pages, which need two visits.
    fill(p, 10, 5, 0x41n);
    scan(sim);
    expect(rmap(p)).toBe(25);
    expect(stat(sim)).toMatchObject({ shared: 1, sharing: 19, volatile: 5 });
    scan(sim);
    expect(stat(sim)).toMatchObject({ shared: 1, sharing: 24, volatile: 0 });
  });

  it("mremap moves the pages with the range: the moved KSM pages are found at the new address at once", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 10);
    fill(p, 0, 10, 0x41n);
    scan(sim, 2);
    ok(p.mremap(a(0), 10 * P, 10 * P, { maymove: true, fixed: a(100) }));
    scan(sim);
    // The old items are freed, the KSM pages (already merged) re-attach at their first visit.
    expect(rmap(p)).toBe(10);
    expect(stat(sim)).toEqual({ shared: 1, sharing: 9, unshared: 0, volatile: 0 });
    expect(p.ksmStat().ksmMergingPages).toBe(10);
  });

  it("mremap moves plain pages too: their items are new (checksum visit) at the new address", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 10);
    fill(p, 0, 10, "unique");
    scan(sim, 2);
    expect(stat(sim)).toMatchObject({ unshared: 10 });
    ok(p.mremap(a(0), 10 * P, 10 * P, { maymove: true, fixed: a(100) }));
    scan(sim);
    expect(rmap(p)).toBe(10);
    expect(stat(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 10 });
  });

  it("mremap MREMAP_DONTUNMAP leaves the source mapped but empty", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 10);
    fill(p, 0, 10, "unique");
    scan(sim);
    ok(p.mremap(a(0), 10 * P, 10 * P, { maymove: true, dontunmap: true, fixed: a(100) }));
    expect(p.vmas().some((v) => v.start === a(0) && v.end === a(10))).toBe(true);
    // A write gives the source an anon_vma again: only that page is present there.
    fill(p, 0, 1, "unique");
    scan(sim);
    expect(rmap(p)).toBe(11);
  });

  it("fork shares pages except in MADV_DONTFORK and MADV_WIPEONFORK VMAs", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 5);
    region(p, 10, 5);
    region(p, 20, 5);
    fill(p, 0, 5, 0x41n);
    fill(p, 10, 5, 0x41n);
    fill(p, 20, 5, 0x41n);
    ok(p.madvise(a(10), 5 * P, "dontfork"));
    ok(p.madvise(a(20), 5 * P, "wipeonfork"));
    const c = ok(sim.fork(p, "child"));
    // DONTFORK: no VMA in the child. WIPEONFORK: the VMA is there, empty.
    expect(c.write(a(10), P)).toEqual({ ok: false, errno: "EFAULT" });
    expect(c.vmas().some((v) => v.start === a(20))).toBe(true);
    scan(sim, 2);
    expect(rmap(c)).toBe(5);
    // The child's five pages are the parent's first five: they attach to the parent's KSM page
    // (merged from 15 copies) without being new copies.
    expect(p.ksmStat().ksmMergingPages).toBe(15);
    expect(c.ksmStat().ksmMergingPages).toBe(5);
    expect(stat(sim)).toMatchObject({ shared: 1, sharing: 19 });
    // A write into the wiped VMA faults in the child's own pages.
    fill(c, 20, 2, 0x41n);
    scan(sim, 2);
    expect(rmap(c)).toBe(7);
  });

  it("fork-shared pages are one physical page: a lone page never merges with its twin", () => {
    const sim = newSim();
    const p = sim.process("main");
    region(p, 0, 3);
    fill(p, 0, 3, "unique");
    const c = ok(sim.fork(p, "child"));
    scan(sim, 3);
    expect(rmap(c)).toBe(3);
    expect(stat(sim)).toEqual({ shared: 0, sharing: 0, unshared: 3, volatile: 3 });
  });
});
