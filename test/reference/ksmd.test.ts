/**
 * ksmd (bindings/reference/ksmd.ts) rule by rule, through the public facade
 * (Simulation / AddressSpace), on both engines (eachEngine,
 * test/support/engines.ts): two processed visits before a merge, which pages
 * are scanned, smart scan, the unstable tree, PR_SET_MEMORY_MERGE as ksmd
 * sees it, fork, mm list order and the batch/sleep pacing of ksmRun. The
 * stable tree's rules are in ksm_stable.test.ts, the knobs and counters in
 * ksm_sysfs.test.ts. Expectations come from the research notes on KSM
 * (ksm-spec, with docs/ksm.md, § numbers below), its live-measured traces
 * (§11.3) and, where the spec is silent, mm/ksm.c of 6.18.
 */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { AddressSpace, Simulation } from "../../bindings/facade.js";
import { Ksm } from "../../bindings/reference/ksmd.js";
import { eachEngine } from "../support/engines.js";
import { P, a, ksmSim, ok } from "../support/facade.js";
import { fill, g, proc, region, scan } from "./ksm_helpers.js";

// ---------------------------------------------------------------------------------------------

eachEngine(() => {
  describe("§2.5 two processed visits before a merge", () => {
    it("after 1 pass every page is volatile (rmap_items = N, shared = sharing = 0); after 2 passes merged", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 300);
      fill(p, 0, 300, 7n);
      scan(sim);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 300, chains: 0, dups: 0, zero: 0, rmap: 300 });
      expect(proc(p)).toEqual({ rmap: 300, merging: 0, zero: 0 });
      expect(sim.ksmStat().fullScans).toBe(1);
      scan(sim);
      // 300 = 256 + 44 copies: two KSM pages under a chain.
      expect(g(sim)).toEqual({ shared: 2, sharing: 298, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 300 });
      expect(proc(p)).toEqual({ rmap: 300, merging: 300, zero: 0 });
    });

    it("a unique page goes into the unstable tree at its second visit (unshared), never merges", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 20, "unique");
      scan(sim);
      expect(g(sim)).toMatchObject({ unshared: 0, volatile: 20 });
      scan(sim, 3);
      expect(g(sim)).toMatchObject({ shared: 0, sharing: 0, unshared: 20, volatile: 0, rmap: 20 });
    });

    it("a page rewritten between visits (checksum changed) waits for another visit", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 5n);
      scan(sim);
      fill(p, 0, 10, 6n); // private pages: rewritten in place, the checksum changes
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 0, sharing: 0, volatile: 10 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, volatile: 0 });
    });
  });

  describe("§2.3 which pages get an rmap_item", () => {
    it("unwritten pages of a mergeable VMA (no anon_vma) give none, and the slot stays registered", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 100);
      scan(sim, 3);
      expect(proc(p).rmap).toBe(0);
      expect(g(sim).rmap).toBe(0);
      expect(p.ksmStat().ksmMergeable).toBe(true);
    });

    it("only written pages are scanned, read-faulted pages (zero page) are not", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 100);
      ok(p.read(a(0), 100 * P));
      fill(p, 10, 5, 3n);
      ok(p.read(a(0), 100 * P));
      scan(sim, 2);
      expect(proc(p)).toEqual({ rmap: 5, merging: 5, zero: 0 });
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 4 });
    });

    it("shared mappings are never mergeable, so never scanned", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      ok(p.mmap(a(0), 50 * P, "rw-", "shared|anon|fixed"));
      ok(p.madvise(a(0), 50 * P, "mergeable")); // ignored (incompatible), not an error
      fill(p, 0, 50, 3n);
      expect(p.ksmStat().ksmMergeable).toBe(false);
      region(p, 100, 1);
      fill(p, 100, 1, 3n);
      scan(sim, 3);
      expect(proc(p).rmap).toBe(1);
      expect(g(sim)).toMatchObject({ shared: 0, sharing: 0, rmap: 1 });
    });

    it("written pages of a VMA without MADV_MERGEABLE are not scanned", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 50, false);
      fill(p, 0, 50, 3n);
      region(p, 100, 2);
      fill(p, 100, 2, 3n);
      scan(sim, 3);
      expect(proc(p)).toEqual({ rmap: 2, merging: 2, zero: 0 });
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, rmap: 2 });
    });

    it("a private file mapping is scanned only where a write made the pages anonymous", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      const f = sim.createFile("data", 64 * P);
      ok(p.mmap(a(0), 64 * P, "rw-", "private|fixed", f, 0));
      ok(p.madvise(a(0), 64 * P, "mergeable"));
      ok(p.read(a(0), 64 * P));
      scan(sim, 2);
      expect(proc(p).rmap).toBe(0);
      fill(p, 8, 10, 9n);
      scan(sim, 2);
      expect(proc(p)).toEqual({ rmap: 10, merging: 10, zero: 0 });
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9 });
    });

    it("pages keep being scanned whatever their protection (PROT_NONE merges too, selftest test_prot_none)", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 20, 0x11n);
      ok(p.mprotect(a(0), 20 * P, "---"));
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 19, rmap: 20 });
    });

    it("MADV_POPULATE_WRITE installs zero-filled anonymous pages, which are scanned and merge", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 30);
      ok(p.madvise(a(0), 30 * P, "populate_write"));
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 29, rmap: 30 });
    });
  });

  describe("§4.1 smart scan", () => {
    const processedVisits = new Set([1, 2, 3, 4, 6, 9, 14, 23, 32]);

    it("a unique page is processed at visits 1,2,3,4,6,9,14,23,32 and skipped otherwise; unshared/volatile alternate", () => {
      const sim = ksmSim({ smart_scan: "1" });
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, "unique");
      let last = sim.ksmStat();
      for (let visit = 1; visit <= 40; visit++) {
        scan(sim);
        const s = sim.ksmStat();
        const processed = visit <= 32 ? processedVisits.has(visit) : visit === 41;
        expect([visit, s.pagesScanned - last.pagesScanned, s.pagesSkipped - last.pagesSkipped]).toEqual([
          visit, processed ? 10 : 0, processed ? 0 : 10,
        ]);
        const inTree = processed && visit >= 2;
        expect([visit, s.pagesUnshared, s.pagesVolatile]).toEqual([visit, inTree ? 10 : 0, inTree ? 0 : 10]);
        expect(proc(p).rmap).toBe(10);
        last = s;
      }
    });

    it("skip lengths stay at 8 after age 9: visits 41 and 50 are processed", () => {
      const sim = ksmSim({ smart_scan: "1" });
      const p = sim.process("main");
      region(p, 0, 1);
      fill(p, 0, 1, "unique");
      scan(sim, 40);
      const processed: number[] = [];
      for (let visit = 41; visit <= 60; visit++) {
        const before = sim.ksmStat().pagesScanned;
        scan(sim);
        if (sim.ksmStat().pagesScanned > before) processed.push(visit);
      }
      expect(processed).toEqual([41, 50, 59]);
    });

    it("KSM pages are never skipped", () => {
      const sim = ksmSim({ smart_scan: "1" });
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 20, 0x41n);
      scan(sim, 2);
      const s0 = sim.ksmStat();
      scan(sim, 30);
      const s1 = sim.ksmStat();
      expect(s1.pagesSkipped - s0.pagesSkipped).toBe(0);
      expect(s1.pagesScanned - s0.pagesScanned).toBe(20 * 30);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 19, volatile: 0 });
    });

    it("with smart_scan=0 nothing is ever skipped", () => {
      const sim = ksmSim({ smart_scan: "0" });
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, "unique");
      scan(sim, 12);
      expect(sim.ksmStat()).toMatchObject({ pagesSkipped: 0, pagesScanned: 120, pagesUnshared: 10, pagesVolatile: 0 });
    });
  });

  describe("§2.10 the unstable tree", () => {
    /** Pages of these values, checksums recorded (pass 1 done), one page per batch: ksmRun(20) processes the next page. */
    function onePerBatch(...values: bigint[]): { sim: Simulation; p: AddressSpace } {
      const sim = ksmSim({ pages_to_scan: "1", sleep_millisecs: "20" });
      const p = sim.process("main");
      region(p, 0, values.length);
      values.forEach((v, i) => fill(p, i, 1, v));
      scan(sim);
      return { sim, p };
    }

    it("the first page of a content is inserted (unshared), the second finds it and both merge", () => {
      const { sim } = onePerBatch(0x41n, 0x41n);
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ unshared: 1, volatile: 1 });
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, unshared: 0, volatile: 0 });
    });

    it("tree pages are compared by their current content: one rewritten mid-pass to the searched content is merged", () => {
      const { sim, p } = onePerBatch(0x41n, 0x42n);
      sim.ksmRun(20); // page 0 ('A') is the unstable tree's only node
      expect(g(sim)).toMatchObject({ unshared: 1 });
      fill(p, 0, 1, 0x42n); // rewritten in place, still in the tree
      sim.ksmRun(20); // page 1 ('B', checksum unchanged) walks the tree: the root now holds 'B'
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, unshared: 0, volatile: 0 });
    });

    it("a walk that meets a tree page that is gone gives up without inserting the page (volatile)", () => {
      const { sim, p } = onePerBatch(0x41n, 0x42n);
      sim.ksmRun(20);
      ok(p.madvise(a(0), P, "dontneed"));
      sim.ksmRun(20);
      // Page 0's item still counts as unshared until the cursor passes address 0 again.
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 1, volatile: 1, chains: 0, dups: 0, zero: 0, rmap: 2 });
      scan(sim, 2);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 1, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 1 });
    });

    it("a partner merged earlier in the pass has left the tree when memory changes mid-pass (the Wasm engine's rebuilt tree too)", () => {
      // Values 2, 3, 2, 4: page 0 (2) is the root, page 1 (3) its right child; page 2 finds page 0
      // and both merge, so page 0's node leaves the tree. Page 0 is then zapped. Page 3 (4) walks
      // the tree, which holds page 1 only, and is inserted; were page 0's node still the root, the
      // walk would meet its gone page and give up (page 3 volatile).
      const { sim, p } = onePerBatch(2n, 3n, 2n, 4n);
      sim.ksmRun(60);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, unshared: 1, volatile: 1 });
      ok(p.madvise(a(0), P, "dontneed"));
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, unshared: 2, volatile: 0 });
    });

    it("§1.6 pages compare by memcmp of their bytes: a value's least significant byte first", () => {
      // Values 2, 0x100, 3: memcmp puts 0x100 (bytes 00 01 ..) below 2 (02 00 ..), so the tree is
      // root 2, left 0x100, right 3. Page 1 (0x100) is then zapped. Value 4 walks 2 -> 3 -> insert and
      // never meets the gone page; in numeric order (root 3, left 2, right 0x100) it would meet it and
      // give up.
      const { sim, p } = onePerBatch(2n, 0x100n, 3n, 4n);
      sim.ksmRun(60); // pages 0-2 inserted
      expect(g(sim)).toMatchObject({ unshared: 3, volatile: 1 });
      ok(p.madvise(a(1), P, "dontneed"));
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ unshared: 4, volatile: 0 });
    });

    it("§1.6 the mirror case: a walk that does pass the gone page gives up", () => {
      // Same tree; value 0x200 (bytes 00 02 ..) goes left of 2, to the gone 0x100: volatile.
      const { sim, p } = onePerBatch(2n, 0x100n, 3n, 0x200n);
      sim.ksmRun(60);
      ok(p.madvise(a(1), P, "dontneed"));
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ unshared: 3, volatile: 1 });
    });

    it("the tree is dropped at each pass start: unshared items of the last pass are only unflagged when revisited", () => {
      const sim = ksmSim({ pages_to_scan: "5", sleep_millisecs: "20" });
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, "unique");
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ unshared: 10, volatile: 0 });
      fill(p, 0, 10, "unique"); // same contents: nothing changes for ksmd
      sim.ksmRun(20); // pages 0-4 of pass 3: removed and re-inserted
      expect(g(sim)).toMatchObject({ unshared: 10, volatile: 0 });
    });

    it("a CoW that keeps the content (MADV_POPULATE_WRITE on merged pages) re-merges in the same visit", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0x41n);
      scan(sim, 2);
      ok(p.madvise(a(0), 10 * P, "populate_write")); // every KSM mapping replaced by a private copy
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9 });
      scan(sim);
      // The old node is stale and dropped; the checksum is the pre-merge one, so the copies merge again at once.
      expect(g(sim)).toEqual({ shared: 1, sharing: 9, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 10 });
    });
  });

  describe("§6 PR_SET_MEMORY_MERGE (ksm.ts) as ksmd sees it", () => {
    it("prctl 1 makes every existing private anonymous VMA scannable, and new ones too; shared ones stay out", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10, false);
      fill(p, 0, 10, 0x41n);
      ok(p.mmap(a(20), 5 * P, "rw-", "shared|anon|fixed"));
      fill(p, 20, 5, 0x41n);
      ok(p.setMemoryMerge(1));
      expect(p.ksmStat()).toMatchObject({ ksmMergeAny: true, ksmMergeable: true });
      region(p, 40, 5, false); // no madvise: mergeable through MERGE_ANY
      fill(p, 40, 5, 0x41n);
      scan(sim, 2);
      expect(proc(p)).toEqual({ rmap: 15, merging: 15, zero: 0 });
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 14 });
    });

    it("prctl 0 unshares at once and clears every VM_MERGEABLE (madvise ones too); items go in the next pass", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10); // madvise
      fill(p, 0, 10, 0x41n);
      ok(p.setMemoryMerge(1));
      region(p, 20, 5, false);
      fill(p, 20, 5, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 14 });
      ok(p.setMemoryMerge(0));
      expect(p.ksmStat()).toMatchObject({ ksmMergeAny: false, ksmMergeable: false, ksmMergingPages: 15 });
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 14 });
      scan(sim);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 0 });
    });

    it("§6.3 MERGE_ANY survives a pass that finds no mergeable VMA; a new mapping registers the mm again", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 4, false);
      fill(p, 0, 4, 0x41n);
      ok(p.setMemoryMerge(1));
      scan(sim, 2);
      ok(p.madvise(a(0), 4 * P, "unmergeable"));
      scan(sim); // frees the items and, finding no VM_MERGEABLE VMA, the slot
      expect(p.ksmStat()).toMatchObject({ ksmRmapItems: 0, ksmMergeAny: true, ksmMergeable: false });
      expect(sim.ksmScan(1)).toBe(false); // the slot is gone
      region(p, 50, 3, false);
      expect(p.findVma(a(50))!.vmflags).toContain("mg");
      fill(p, 50, 3, 0x41n);
      scan(sim, 2);
      expect(proc(p)).toEqual({ rmap: 3, merging: 3, zero: 0 });
    });
  });

  describe("§5.7 fork", () => {
    it("§11.3 child counters start at 0; its KSM pages attach beyond max_page_sharing (sharing 1022)", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 512);
      fill(p, 0, 512, 0xcfcfcfcfcfcfcfcfn);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 510, chains: 1, dups: 2 });
      const before = sim.ksmStat();
      const c = ok(sim.fork(p, "child"));
      expect(c.ksmStat()).toEqual({
        ksmRmapItems: 0, ksmZeroPages: 0, ksmMergingPages: 0, ksmProcessProfit: 0, ksmMergeAny: false, ksmMergeable: true,
      });
      expect(sim.ksmStat()).toEqual(before);
      // A KSM page needs no checksum visit: the forked mappings attach at their first visit.
      scan(sim);
      expect(g(sim)).toEqual({ shared: 2, sharing: 1022, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 1024 });
      expect(proc(c)).toEqual({ rmap: 512, merging: 512, zero: 0 });
      expect(proc(p)).toEqual({ rmap: 512, merging: 512, zero: 0 });
      expect(sim.ksmStat().generalProfit).toBe(1022 * 4096 - 1024 * 64);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 1022, chains: 1, dups: 2 });
      // The child unmerges: its items go one pass later, the parent's 510 stay.
      ok(c.madvise(a(0), 512 * P, "unmergeable"));
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 510, chains: 1, dups: 2, rmap: 512 });
      expect(c.ksmStat()).toMatchObject({ ksmRmapItems: 0, ksmMergingPages: 0, ksmMergeable: false });
    });

    it("a fork-shared page never merges with its twin (same physical page); a CoW write in the child makes it mergeable", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 1);
      fill(p, 0, 1, 0x77n);
      const c = ok(sim.fork(p, "child"));
      scan(sim, 4);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 1, volatile: 1, chains: 0, dups: 0, zero: 0, rmap: 2 });
      expect([proc(p).rmap, proc(c).rmap]).toEqual([1, 1]);
      fill(c, 0, 1, 0x77n); // same content, but now a page of its own
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, unshared: 0, volatile: 0 });
      expect([proc(p).merging, proc(c).merging]).toEqual([1, 1]);
    });

    it("two equal fork-shared pages: all four mappings end up on one KSM page", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 2);
      fill(p, 0, 2, 0x77n);
      const c = ok(sim.fork(p, "child"));
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 3, unshared: 0, volatile: 0 });
      expect([proc(p).merging, proc(c).merging]).toEqual([2, 2]);
    });

    it("the child of a registered mm is scanned even if it never calls madvise (ksm_fork, VM_MERGEABLE inherited)", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 4);
      fill(p, 0, 4, "unique");
      const c = ok(sim.fork(p, "child"));
      fill(c, 0, 4, "unique"); // CoW: the child's own pages, same contents as the parent's
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 4, sharing: 4 });
      expect(proc(c)).toEqual({ rmap: 4, merging: 4, zero: 0 });
    });
  });

  describe("§2.3 mm list order", () => {
    it("a process registered mid-pass is inserted before the cursor: first scanned in the next pass", () => {
      const sim = ksmSim({ pages_to_scan: "100", sleep_millisecs: "20" });
      const p1 = sim.process("one");
      region(p1, 0, 300);
      fill(p1, 0, 300, "unique");
      sim.ksmRun(20); // one batch: 100 pages of p1
      expect(sim.ksmStat()).toMatchObject({ pagesScanned: 100, fullScans: 0 });
      const p2 = sim.process("two");
      region(p2, 0, 50);
      fill(p2, 0, 50, "unique");
      scan(sim); // finishes pass 1
      expect(sim.ksmStat()).toMatchObject({ pagesScanned: 300, fullScans: 1 });
      expect(proc(p1).rmap).toBe(300);
      expect(proc(p2).rmap).toBe(0);
      scan(sim);
      expect(proc(p2).rmap).toBe(50);
      expect(sim.ksmStat().pagesScanned).toBe(650);
    });

    it("a process registered between passes goes to the tail: scanned in the very next pass", () => {
      const sim = ksmSim({ pages_to_scan: "100" });
      const p1 = sim.process("one");
      region(p1, 0, 300);
      fill(p1, 0, 300, "unique");
      scan(sim);
      const p2 = sim.process("two");
      region(p2, 0, 50);
      fill(p2, 0, 50, "unique");
      scan(sim);
      expect(proc(p2).rmap).toBe(50);
    });

    it("a newcomer mid-pass does not hold back the processes after the cursor", () => {
      const sim = ksmSim({ pages_to_scan: "100" });
      const p1 = sim.process("one");
      const p3 = sim.process("three");
      region(p1, 0, 300);
      fill(p1, 0, 300, "unique");
      region(p3, 0, 30);
      fill(p3, 0, 30, "unique");
      sim.ksmRun(20);
      const p2 = sim.process("two");
      region(p2, 0, 50);
      fill(p2, 0, 50, "unique");
      scan(sim);
      expect([proc(p1).rmap, proc(p2).rmap, proc(p3).rmap]).toEqual([300, 0, 30]);
    });

    it("a fork mid-pass: the child is first scanned in the next pass", () => {
      const sim = ksmSim({ pages_to_scan: "100" });
      const p = sim.process("main");
      region(p, 0, 300);
      fill(p, 0, 300, "unique");
      sim.ksmRun(20);
      const c = ok(sim.fork(p, "child"));
      scan(sim);
      expect(proc(c).rmap).toBe(0);
      scan(sim);
      expect(proc(c).rmap).toBe(300);
    });
  });

  describe("§2.2 ksmRun pacing", () => {
    function paced(pages: number, knobs: Record<string, string>): { sim: Simulation; p: AddressSpace } {
      const sim = ksmSim(knobs);
      const p = sim.process("main");
      region(p, 0, pages);
      fill(p, 0, pages, "unique");
      return { sim, p };
    }

    it("a pass of E pages takes floor(E/P) + 1 batches; ksmRun(ms) runs ceil(ms / sleep) batches (sleep 10 ms -> 3 jiffies = 12 ms)", () => {
      const { sim } = paced(250, { pages_to_scan: "100", sleep_millisecs: "10" });
      sim.ksmRun(120); // 10 batches of 12 ms; 3 per pass
      expect(sim.ksmStat()).toMatchObject({ fullScans: 3, pagesScanned: 3 * 250 + 100, clockMs: 120 });
    });

    it("E a multiple of P: the pass ends in an extra, empty batch", () => {
      const { sim } = paced(300, { pages_to_scan: "100", sleep_millisecs: "20" });
      sim.ksmRun(20 * 8);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 2, pagesScanned: 600, clockMs: 160 });
      sim.ksmRun(20 * 3);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 2, pagesScanned: 900 });
      sim.ksmRun(20);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 3, pagesScanned: 900 });
    });

    it("property: full_scans after ksmRun(ms) follows the batch arithmetic", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 600 }),
          (pages, pts, sleep, ms) => {
            const { sim } = paced(pages, { pages_to_scan: String(pts), sleep_millisecs: String(sleep) });
            sim.ksmRun(ms);
            const s = Math.ceil(sleep / 4) * 4;
            const batches = Math.ceil(ms / s);
            const perPass = Math.floor(pages / pts) + 1;
            const passes = Math.floor(batches / perPass);
            const rest = batches - passes * perPass;
            expect(sim.ksmStat()).toMatchObject({ fullScans: passes, pagesScanned: passes * pages + Math.min(rest * pts, pages), clockMs: batches * s });
          },
        ),
        { numRuns: 60 },
      );
    });

    it("smart-scan skips cost no budget: a pass whose pages are all skipped takes a single batch", () => {
      const { sim } = paced(10, { pages_to_scan: "3", sleep_millisecs: "20", smart_scan: "1" });
      // Passes 1-4 process 10 pages: 4 batches each. Pass 5 skips all 10: 1 batch.
      sim.ksmRun(20 * 16);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 4, pagesScanned: 40, pagesSkipped: 0 });
      sim.ksmRun(20);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 5, pagesScanned: 40, pagesSkipped: 10 });
    });

    it("sleep_millisecs=1 rounds up to one 4 ms jiffy", () => {
      const { sim } = paced(10, { pages_to_scan: "100", sleep_millisecs: "1" });
      sim.ksmRun(40);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 10, clockMs: 40 });
    });

    it("with a registered mm but no present page, every batch is an empty pass: full_scans ticks once per sleep", () => {
      const sim = ksmSim({ sleep_millisecs: "20" });
      const p = sim.process("main");
      region(p, 0, 10);
      sim.ksmRun(200);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 10, pagesScanned: 0 });
    });

    it("with run=0 ksmRun only moves the clock", () => {
      const { sim } = paced(10, { run: "0" });
      sim.ksmRun(500);
      expect(sim.ksmStat()).toMatchObject({ fullScans: 0, pagesScanned: 0, clockMs: 500 });
    });

    it("sleep_millisecs=0 (continuous scanning) still lets ksmRun(ms) return", () => {
      const { sim } = paced(10, { pages_to_scan: "100", sleep_millisecs: "0" });
      // Guard: a run that never advances the clock would loop forever; stop it after 5 000 batches.
      const original = Ksm.prototype.ksm_do_scan;
      let calls = 0;
      const spy = vi.spyOn(Ksm.prototype, "ksm_do_scan").mockImplementation(function (this: Ksm) {
        if (++calls > 5_000) throw new Error("ksmRun(100) with sleep_millisecs=0 did not return after 5 000 batches");
        return original.call(this);
      });
      try {
        expect(() => sim.ksmRun(100)).not.toThrow();
        expect(sim.ksmStat().fullScans).toBeGreaterThan(0);
      } finally {
        spy.mockRestore();
      }
    });
  });
});
