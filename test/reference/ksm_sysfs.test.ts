/**
 * What /sys/kernel/mm/ksm and /proc/PID/ksm_stat report and accept
 * (bindings/reference/ksm_sysfs.ts), through the public facade, on both
 * engines (eachEngine, test/support/engines.ts): the counter lag of user
 * actions, ksm_zero_pages (use_zero_pages, fork), the live-measured traces,
 * the knob parsers and refusals, the profit formulas. Expectations come from
 * the research notes on KSM (ksm-spec, with docs/ksm.md, § numbers below),
 * its live-measured traces (§11) and, where the spec is silent, mm/ksm.c of
 * 6.18 (ksm_fork() keeps the copied ksm_zero_pages).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AddressSpace, KsmGlobalStat, PageContent, Simulation } from "../../bindings/facade.js";
import { eachEngine } from "../support/engines.js";
import { P, a, errno, ksmSim, ok } from "../support/facade.js";
import { fill, g, proc, region, scan } from "./ksm_helpers.js";

// ---------------------------------------------------------------------------------------------

eachEngine(() => {
  describe("§5 counters lag user actions until ksmd passes the address", () => {
    function merged10(): { sim: Simulation; p: AddressSpace } {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, rmap: 10 });
      return { sim, p };
    }

    it("5.1 a CoW write to merged pages changes no counter until the next pass, then they are volatile", () => {
      const { sim, p } = merged10();
      const before = sim.ksmStat();
      const pBefore = p.ksmStat();
      fill(p, 0, 3, 0x42n);
      expect(sim.ksmStat()).toEqual(before);
      expect(p.ksmStat()).toEqual(pBefore);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 6, unshared: 0, volatile: 3, rmap: 10 });
      expect(proc(p)).toEqual({ rmap: 10, merging: 7, zero: 0 });
      scan(sim);
      // The three equal new pages make a second KSM page.
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 8, volatile: 0 });
    });

    it("5.5 munmap of merged pages: sharing drops one pass later, with the items", () => {
      const { sim, p } = merged10();
      const before = sim.ksmStat();
      ok(p.munmap(a(5), 3 * P));
      expect(sim.ksmStat()).toEqual(before);
      expect(proc(p)).toEqual({ rmap: 10, merging: 10, zero: 0 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 6, volatile: 0, rmap: 7 });
      expect(proc(p)).toEqual({ rmap: 7, merging: 7, zero: 0 });
    });

    it("5.5 MADV_DONTNEED of merged pages: same lag as munmap", () => {
      const { sim, p } = merged10();
      const before = sim.ksmStat();
      ok(p.madvise(a(0), 4 * P, "dontneed"));
      expect(sim.ksmStat()).toEqual(before);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 5, rmap: 6 });
    });

    it("5.3 MADV_UNMERGEABLE unshares at once (counters unchanged), the items go when the cursor passes", () => {
      const { sim, p } = merged10();
      const before = sim.ksmStat();
      ok(p.madvise(a(0), 5 * P, "unmergeable"));
      expect(sim.ksmStat()).toEqual(before);
      expect(proc(p)).toEqual({ rmap: 10, merging: 10, zero: 0 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 4, rmap: 5 });
      expect(proc(p)).toEqual({ rmap: 5, merging: 5, zero: 0 });
      // The unmerged pages are private copies of the same content: mergeable again, they rejoin (2 visits).
      ok(p.madvise(a(0), 5 * P, "mergeable"));
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 4, volatile: 5, rmap: 10 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, volatile: 0, rmap: 10 });
    });

    it("5.3 MADV_UNMERGEABLE of everything: ksm_mergeable no at once, the stale node goes in the next pass, then ksmd has nothing to scan", () => {
      const { sim, p } = merged10();
      ok(p.madvise(a(0), 10 * P, "unmergeable"));
      expect(p.ksmStat().ksmMergeable).toBe(false);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9 });
      scan(sim);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 0 });
      expect(proc(p)).toEqual({ rmap: 0, merging: 0, zero: 0 });
      // The pass found no VM_MERGEABLE VMA: the slot is gone, no scan can complete.
      expect(sim.ksmScan(1)).toBe(false);
    });

    it("5.9 run=2 zeroes every counter and full_scans; pages_scanned and pages_skipped never reset; run=1 merges again in 2 passes", () => {
      const sim = ksmSim({ smart_scan: "1", use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 60);
      fill(p, 0, 30, 0x41n);
      fill(p, 30, 20, "unique");
      fill(p, 50, 10, 0n);
      scan(sim, 5);
      const before = sim.ksmStat();
      expect(before).toMatchObject({ pagesShared: 1, pagesSharing: 29, ksmZeroPages: 10, fullScans: 5 });
      expect(before.pagesSkipped).toBe(20); // visit 5 of the unique pages
      ok(sim.ksmWrite("run", "2"));
      const s = sim.ksmStat();
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 0 });
      expect(s.generalProfit).toBe(0);
      expect(s.fullScans).toBe(0);
      expect(s.pagesScanned).toBe(before.pagesScanned);
      expect(s.pagesSkipped).toBe(before.pagesSkipped);
      expect(p.ksmStat()).toMatchObject({ ksmRmapItems: 0, ksmMergingPages: 0, ksmZeroPages: 0, ksmProcessProfit: 0, ksmMergeable: true });
      // run=2 stops ksmd.
      expect(sim.ksmScan(1)).toBe(false);
      ok(sim.ksmWrite("run", "1"));
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 0, sharing: 0, volatile: 60, zero: 0 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 29, zero: 10 });
      expect(sim.ksmStat().fullScans).toBe(2);
    });

    it("5.9 run=2 written again is a no-op; run=0 freezes the counters", () => {
      const { sim, p } = merged10();
      ok(sim.ksmWrite("run", "0"));
      fill(p, 0, 10, "unique");
      expect(sim.ksmScan(1)).toBe(false);
      sim.ksmRun(1000);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, rmap: 10 });
      ok(sim.ksmWrite("run", "2"));
      ok(sim.ksmWrite("run", "2"));
      expect(g(sim).rmap).toBe(0);
    });
  });

  describe("§4.4 use_zero_pages", () => {
    it("zero-filled pages become KSM zero pages at the second visit; their items go one pass later", () => {
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 110);
      fill(p, 0, 100, 0n);
      fill(p, 100, 10, 0x41n);
      scan(sim);
      expect(g(sim)).toMatchObject({ zero: 0, volatile: 110, rmap: 110 });
      scan(sim);
      expect(g(sim)).toEqual({ shared: 1, sharing: 9, unshared: 0, volatile: 100, chains: 0, dups: 0, zero: 100, rmap: 110 });
      expect(proc(p)).toEqual({ rmap: 110, merging: 10, zero: 100 });
      scan(sim);
      expect(g(sim)).toEqual({ shared: 1, sharing: 9, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 100, rmap: 10 });
      expect(proc(p)).toEqual({ rmap: 10, merging: 10, zero: 100 });
      expect(sim.ksmStat().generalProfit).toBe((9 + 100) * 4096 - 10 * 64);
      expect(p.ksmStat().ksmProcessProfit).toBe((10 + 100) * 4096 - 10 * 64);
    });

    it("writing into KSM zero pages lowers ksm_zero_pages at once (global and per process); the pages are scanned again", () => {
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 100);
      fill(p, 0, 100, 0n);
      scan(sim, 3);
      expect(g(sim)).toMatchObject({ zero: 100, rmap: 0 });
      fill(p, 0, 12, 7n);
      expect(g(sim)).toMatchObject({ zero: 88, rmap: 0 });
      expect(proc(p)).toEqual({ rmap: 0, merging: 0, zero: 88 });
      scan(sim);
      expect(g(sim)).toMatchObject({ zero: 88, volatile: 12, rmap: 12 });
      scan(sim);
      expect(g(sim)).toMatchObject({ zero: 88, shared: 1, sharing: 11, rmap: 12 });
    });

    it("munmap, MADV_DONTNEED and MADV_UNMERGEABLE of KSM zero pages lower ksm_zero_pages at once", () => {
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 512);
      fill(p, 0, 512, 0n);
      scan(sim, 3);
      expect(g(sim).zero).toBe(512);
      ok(p.munmap(a(0), 8 * P));
      expect([g(sim).zero, proc(p).zero]).toEqual([504, 504]);
      ok(p.madvise(a(8), 8 * P, "dontneed"));
      expect([g(sim).zero, proc(p).zero]).toEqual([496, 496]);
      // selftest test_unmerge_zero_pages: unmerge part, then write the rest.
      ok(p.madvise(a(16), 240 * P, "unmergeable"));
      expect([g(sim).zero, proc(p).zero]).toEqual([256, 256]);
      fill(p, 256, 256, 0n);
      expect([g(sim).zero, proc(p).zero]).toEqual([0, 0]);
    });

    it("with use_zero_pages=0 zero-filled pages merge like any content (512 -> 2 dups under 1 chain)", () => {
      const sim = ksmSim({ use_zero_pages: "0" });
      const p = sim.process("main");
      region(p, 0, 512);
      fill(p, 0, 512, 0n);
      scan(sim, 3);
      expect(g(sim)).toEqual({ shared: 2, sharing: 510, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 512 });
    });

    it("use_zero_pages affects future merges only: pages merged before the switch stay KSM pages", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 10, 0n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9 });
      ok(sim.ksmWrite("use_zero_pages", "1"));
      fill(p, 10, 10, 0n);
      scan(sim, 3);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, zero: 10, rmap: 10 });
    });

    it("§5.7 a forked child inherits KSM zero pages: its ksm_zero_pages and the global count include them", () => {
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0n);
      scan(sim, 2);
      expect(g(sim).zero).toBe(10);
      const c = ok(sim.fork(p, "child"));
      expect(proc(c)).toEqual({ rmap: 0, merging: 0, zero: 10 });
      expect(g(sim).zero).toBe(20);
      fill(c, 0, 4, 1n);
      expect([g(sim).zero, proc(c).zero, proc(p).zero]).toEqual([16, 6, 10]);
    });
  });

  describe("§5.7 fork and KSM zero pages (ksm_fork)", () => {
    it("the child's ksm_zero_pages is the parent's counter copied with the mm, even for zero pages in MADV_DONTFORK / WIPEONFORK VMAs", () => {
      // dup_mm() copies the mm_struct, ksm_fork() keeps ksm_zero_pages and adds it to the global
      // counter (S5, 4d6fc29f3634); copy_page_range() does not count zero PTEs.
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("main");
      region(p, 0, 10);
      region(p, 20, 4);
      region(p, 30, 2);
      fill(p, 0, 10, 0n);
      fill(p, 20, 4, 0n);
      fill(p, 30, 2, 0n);
      scan(sim, 2);
      expect([g(sim).zero, proc(p).zero]).toEqual([16, 16]);
      ok(p.madvise(a(20), 4 * P, "dontfork"));
      ok(p.madvise(a(30), 2 * P, "wipeonfork"));
      const c = ok(sim.fork(p, "child"));
      expect(proc(c).zero).toBe(16);
      expect(g(sim).zero).toBe(32);
    });
  });

  describe("§11 live traces", () => {
    it("§11.1 2000 duplicates + 100 unique + 512 zero pages (use_zero_pages=0), CoW of 10, munmap of 100, 16 passes", () => {
      const sim = ksmSim({ smart_scan: "1", pages_to_scan: "5000", sleep_millisecs: "200" });
      const p = sim.process("main");
      region(p, 0, 2612);
      ok(p.madvise(a(0), 2612 * P, "nohugepage"));
      for (let b = 0; b < 4; b++) fill(p, b * 500, 500, 0x4141414141414141n * BigInt(b + 1));
      fill(p, 2000, 100, "unique");
      fill(p, 2100, 512, 0n);
      // [scanned Δ, skipped Δ, shared, sharing, unshared, volatile, chains, dups, general_profit, merging, rmap]
      const rows: Record<number, number[]> = {
        1: [2612, 0, 0, 0, 0, 2612, 0, 0, -167168, 0, 2612],
        2: [2612, 0, 10, 2502, 100, 0, 5, 10, 10081024, 2512, 2612],
        3: [2612, 0, 10, 2502, 100, 0, 5, 10, 10081024, 2512, 2612],
        4: [2612, 0, 10, 2502, 100, 0, 5, 10, 10081024, 2512, 2612],
        5: [2512, 100, 10, 2492, 0, 110, 5, 10, 10040064, 2502, 2612],
        6: [2612, 0, 11, 2501, 100, 0, 5, 10, 10076928, 2512, 2612],
        7: [2412, 100, 11, 2401, 0, 100, 5, 10, 9673728, 2412, 2512],
        8: [2412, 100, 11, 2401, 0, 100, 5, 10, 9673728, 2412, 2512],
        9: [2512, 0, 11, 2401, 100, 0, 5, 10, 9673728, 2412, 2512],
      };
      for (const pass of [10, 11, 12, 13, 15, 16]) rows[pass] = rows[8]!;
      rows[14] = rows[9]!;
      let last: KsmGlobalStat = sim.ksmStat();
      for (let pass = 1; pass <= 16; pass++) {
        if (pass === 5) {
          const before = sim.ksmStat();
          fill(p, 0, 10, 0x4141414141414142n); // first byte changed: CoW of 10 'A' pages
          expect(sim.ksmStat()).toEqual(before);
        }
        if (pass === 7) {
          const before = sim.ksmStat();
          ok(p.munmap(a(1000), 100 * P)); // 100 pages of 'C'
          expect(sim.ksmStat()).toEqual(before);
        }
        scan(sim);
        const s = sim.ksmStat();
        const ps = p.ksmStat();
        expect([pass, s.pagesScanned - last.pagesScanned, s.pagesSkipped - last.pagesSkipped, s.pagesShared, s.pagesSharing,
          s.pagesUnshared, s.pagesVolatile, s.stableNodeChains, s.stableNodeDups, s.generalProfit, ps.ksmMergingPages,
          ps.ksmRmapItems]).toEqual([pass, ...rows[pass]!]);
        expect(s.fullScans).toBe(pass);
        last = s;
      }
      expect(p.ksmStat().ksmProcessProfit).toBe(2412 * 4096 - 2512 * 64);
      ok(sim.ksmWrite("run", "2"));
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 0 });
      expect(sim.ksmStat()).toMatchObject({ generalProfit: 0, fullScans: 0, pagesScanned: last.pagesScanned });
      expect(p.ksmStat()).toMatchObject({ ksmRmapItems: 0, ksmMergingPages: 0, ksmMergeable: true });
    });

    it("§11.2 the same layout with use_zero_pages=1", () => {
      const sim = ksmSim({ smart_scan: "1", use_zero_pages: "1", sleep_millisecs: "200" });
      const p = sim.process("main");
      region(p, 0, 2612);
      for (let b = 0; b < 4; b++) fill(p, b * 500, 500, 0x4141414141414141n * BigInt(b + 1));
      fill(p, 2100, 512, 0n);
      fill(p, 2000, 100, "unique");
      // [shared, sharing, unshared, volatile, chains, dups, zero, rmap(self), general_profit]
      const rows = [
        [0, 0, 0, 2612, 0, 0, 0, 2612, -167168],
        [8, 1992, 100, 512, 4, 8, 512, 2612, 10089216],
        [8, 1992, 100, 0, 4, 8, 512, 2100, 10121984],
      ];
      for (const [i, row] of rows.entries()) {
        scan(sim);
        const s = sim.ksmStat();
        expect([s.pagesShared, s.pagesSharing, s.pagesUnshared, s.pagesVolatile, s.stableNodeChains, s.stableNodeDups,
          s.ksmZeroPages, p.ksmStat().ksmRmapItems, s.generalProfit]).toEqual(row);
        if (i === 1) expect(p.ksmStat().ksmProcessProfit).toBe((2000 + 512) * 4096 - 2612 * 64);
      }
    });
  });

  describe("§4.3 knobs", () => {
    /** pages processed by one batch (sleep 20 ms), with enough pages that no pass ends inside it. */
    function batchSize(sim: Simulation): number {
      const before = sim.ksmStat().pagesScanned;
      sim.ksmRun(20);
      return sim.ksmStat().pagesScanned - before;
    }

    function bigSim(): Simulation {
      const sim = ksmSim({ pages_to_scan: "7" });
      const p = sim.process("main");
      region(p, 0, 4000);
      fill(p, 0, 4000, "unique");
      return sim;
    }

    it("run accepts 0, 1, 2 only", () => {
      const sim = ksmSim({ run: "0" });
      for (const v of ["3", "-1", "4", "1.0", "one", "0x1", ""]) expect([v, errno(sim.ksmWrite("run", v))]).toEqual([v, "EINVAL"]);
      for (const v of ["0", "1", "2", "1\n", "+1", "01"]) expect([v, errno(sim.ksmWrite("run", v))]).toEqual([v, "ok"]);
    });

    it("pages_to_scan is base 10 only and sets the batch size", () => {
      const sim = bigSim();
      expect(batchSize(sim)).toBe(7);
      for (const v of ["0x10", "-1", "1e3", " 5", "5 ", "ten", "4294967296"]) {
        expect([v, errno(sim.ksmWrite("pages_to_scan", v))]).toEqual([v, "EINVAL"]);
      }
      expect(batchSize(sim)).toBe(7);
      ok(sim.ksmWrite("pages_to_scan", "010"));
      expect(batchSize(sim)).toBe(10);
      ok(sim.ksmWrite("pages_to_scan", "+12\n"));
      expect(batchSize(sim)).toBe(12);
    });

    it("pages_to_scan is refused while advisor_mode=scan-time; a mode change resets it to advisor_min_pages_to_scan / 100", () => {
      const sim = bigSim();
      expect(errno(sim.ksmWrite("advisor_mode", "scan-time"))).toBe("ok");
      expect(batchSize(sim)).toBe(500);
      expect(errno(sim.ksmWrite("pages_to_scan", "50"))).toBe("EINVAL");
      expect(batchSize(sim)).toBe(500);
      // Writing the same mode again changes nothing.
      ok(sim.ksmWrite("advisor_min_pages_to_scan", "300"));
      ok(sim.ksmWrite("advisor_mode", "scan-time"));
      expect(batchSize(sim)).toBe(500);
      ok(sim.ksmWrite("advisor_mode", "none"));
      expect(batchSize(sim)).toBe(100);
      ok(sim.ksmWrite("pages_to_scan", "9"));
      ok(sim.ksmWrite("advisor_mode", "none\n"));
      expect(batchSize(sim)).toBe(9);
      ok(sim.ksmWrite("advisor_mode", "scan-time"));
      expect(batchSize(sim)).toBe(300);
      for (const v of ["scan", "None", "", "1"]) expect([v, errno(sim.ksmWrite("advisor_mode", v))]).toEqual([v, "EINVAL"]);
      expect(errno(sim.ksmWrite("advisor_target_scan_time", "0"))).toBe("EINVAL");
      expect(errno(sim.ksmWrite("advisor_target_scan_time", "1"))).toBe("ok");
    });

    it("max_page_sharing must be >= 2 (kstrtoint, base 10)", () => {
      const sim = ksmSim({ run: "0" });
      for (const v of ["1", "0", "-3", "0x10", "2.5", "x"]) expect([v, errno(sim.ksmWrite("max_page_sharing", v))]).toEqual([v, "EINVAL"]);
      for (const v of ["2", "3", "1024", "256"]) expect([v, errno(sim.ksmWrite("max_page_sharing", v))]).toEqual([v, "ok"]);
    });

    it("max_page_sharing: EBUSY while KSM pages exist (pages_shared counts), the same value is fine, after run=2 it changes", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 1n);
      scan(sim, 2);
      expect(errno(sim.ksmWrite("max_page_sharing", "256"))).toBe("ok");
      expect(errno(sim.ksmWrite("max_page_sharing", "100"))).toBe("EBUSY");
      expect(errno(sim.ksmWrite("merge_across_nodes", "0"))).toBe("EBUSY");
      expect(errno(sim.ksmWrite("merge_across_nodes", "1"))).toBe("ok");
      // Unmapped KSM pages still count until ksmd passes: still EBUSY.
      fill(p, 0, 10, "unique");
      expect(errno(sim.ksmWrite("max_page_sharing", "100"))).toBe("EBUSY");
      scan(sim);
      expect(g(sim).shared).toBe(0);
      expect(errno(sim.ksmWrite("max_page_sharing", "100"))).toBe("ok");
      // Back to the default with KSM pages again: run=2 unmerges first.
      fill(p, 0, 10, 1n);
      scan(sim, 2);
      expect(errno(sim.ksmWrite("max_page_sharing", "256"))).toBe("EBUSY");
      ok(sim.ksmWrite("run", "2"));
      expect(errno(sim.ksmWrite("max_page_sharing", "256"))).toBe("ok");
    });

    it("max_page_sharing change frees a lingering empty chain (remove_all_stable_nodes)", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 300);
      fill(p, 0, 300, 1n);
      scan(sim, 2);
      ok(p.madvise(a(0), 300 * P, "unmergeable"));
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 0, chains: 1, dups: 0 });
      expect(errno(sim.ksmWrite("max_page_sharing", "100"))).toBe("ok");
      expect(g(sim)).toMatchObject({ chains: 0, dups: 0 });
    });

    it("merge_across_nodes accepts 0 and 1 only", () => {
      const sim = ksmSim({ run: "0" });
      for (const v of ["2", "-1", "0x1", "yes"]) expect([v, errno(sim.ksmWrite("merge_across_nodes", v))]).toEqual([v, "EINVAL"]);
      expect(errno(sim.ksmWrite("merge_across_nodes", "0"))).toBe("ok");
      expect(errno(sim.ksmWrite("merge_across_nodes", "1"))).toBe("ok");
    });

    it("use_zero_pages and smart_scan take kstrtobool spellings; '2' and others are refused and change nothing", () => {
      const sim = ksmSim({ run: "0" });
      for (const key of ["use_zero_pages", "smart_scan"] as const) {
        for (const v of ["y", "Y", "yes", "n", "N", "no", "on", "ON", "off", "OFF", "1", "0", "t", "true", "f", "false", "1\n"]) {
          expect([key, v, errno(sim.ksmWrite(key, v))]).toEqual([key, v, "ok"]);
        }
        for (const v of ["2", "o", "oops", "-1", "x", " 1", ""]) expect([key, v, errno(sim.ksmWrite(key, v))]).toEqual([key, v, "EINVAL"]);
      }
    });

    it("kstrtobool values take effect: use_zero_pages=on merges into the zero page, a refused '2' leaves it on", () => {
      const sim = ksmSim({ use_zero_pages: "on" });
      expect(errno(sim.ksmWrite("use_zero_pages", "2"))).toBe("EINVAL");
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ zero: 10, shared: 0 });
      ok(sim.ksmWrite("use_zero_pages", "off"));
      fill(p, 0, 10, 0n); // writes replace the zero pages
      expect(g(sim).zero).toBe(0);
      scan(sim, 3);
      expect(g(sim)).toMatchObject({ zero: 0, shared: 1, sharing: 9 });
    });

    it("kstrtobool values take effect: smart_scan=n stops skipping, smart_scan=y resumes it", () => {
      const sim = ksmSim({ smart_scan: "y" });
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, "unique");
      scan(sim, 5);
      expect(sim.ksmStat().pagesSkipped).toBe(10);
      ok(sim.ksmWrite("smart_scan", "n"));
      scan(sim, 3);
      expect(sim.ksmStat().pagesSkipped).toBe(10);
    });

    it("sleep_millisecs and stable_node_chains_prune_millisecs are base-10 unsigned", () => {
      const sim = ksmSim({ run: "0" });
      for (const key of ["sleep_millisecs", "stable_node_chains_prune_millisecs"] as const) {
        for (const v of ["0x14", "-1", "1.5", "abc"]) expect([key, v, errno(sim.ksmWrite(key, v))]).toEqual([key, v, "EINVAL"]);
        for (const v of ["0", "20", "020", "+3"]) expect([key, v, errno(sim.ksmWrite(key, v))]).toEqual([key, v, "ok"]);
      }
    });
  });

  describe("§3 profit formulas", () => {
    it("general_profit = (sharing + zero)*4096 - rmap_items*64; ksm_process_profit = (merging + zero)*4096 - rmap_items*64", () => {
      const sim = ksmSim({ use_zero_pages: "1", max_page_sharing: "5" });
      const p = sim.process("main");
      region(p, 0, 100);
      fill(p, 0, 40, { cycle: 3 });
      fill(p, 40, 20, 0n);
      fill(p, 60, 40, "unique");
      for (let pass = 1; pass <= 4; pass++) {
        scan(sim);
        const s = sim.ksmStat();
        const rmap = s.pagesShared + s.pagesSharing + s.pagesUnshared + s.pagesVolatile;
        expect(s.generalProfit).toBe((s.pagesSharing + s.ksmZeroPages) * 4096 - rmap * 64);
        const k = p.ksmStat();
        expect(k.ksmProcessProfit).toBe((k.ksmMergingPages + k.ksmZeroPages) * 4096 - k.ksmRmapItems * 64);
      }
      // Per-process profit exceeds the global one by pages_shared pages when one process owns everything.
      const s = sim.ksmStat();
      expect(p.ksmStat().ksmProcessProfit - s.generalProfit).toBe(s.pagesShared * 4096);
    });

    it("property: the formulas and the global/per-process sums hold after random writes, unmaps, forks and passes", () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant("write" as const), who: fc.nat(1), at: fc.nat(60), n: fc.integer({ min: 1, max: 20 }),
          c: fc.constantFrom<bigint | PageContent>(0n, 1n, 2n, "unique", { cycle: 3 }) }),
        fc.record({ kind: fc.constantFrom("munmap" as const, "dontneed" as const, "unmergeable" as const, "mergeable" as const),
          who: fc.nat(1), at: fc.nat(60), n: fc.integer({ min: 1, max: 20 }) }),
        fc.record({ kind: fc.constant("scan" as const), n: fc.integer({ min: 1, max: 3 }) }),
        fc.record({ kind: fc.constant("run" as const), ms: fc.integer({ min: 1, max: 200 }) }),
      );
      fc.assert(
        fc.property(
          fc.record({ zero: fc.boolean(), smart: fc.boolean(), m: fc.constantFrom(2, 3, 256), pts: fc.constantFrom(7, 50, 5000),
            fork: fc.boolean(), ops: fc.array(op, { maxLength: 12 }) }),
          (r) => {
            const sim = ksmSim({ use_zero_pages: r.zero ? "1" : "0", smart_scan: r.smart ? "1" : "0", max_page_sharing: String(r.m),
              pages_to_scan: String(r.pts) });
            const main = sim.process("main");
            region(main, 0, 80);
            region(main, 200, 1); // keeps the process registered
            fill(main, 200, 1, 9n);
            fill(main, 0, 30, { cycle: 4 });
            const procs = [main];
            if (r.fork) procs.push(ok(sim.fork(main, "child")));
            const check = () => {
              const s = sim.ksmStat();
              const rmap = s.pagesShared + s.pagesSharing + s.pagesUnshared + s.pagesVolatile;
              expect(s.generalProfit).toBe((s.pagesSharing + s.ksmZeroPages) * 4096 - rmap * 64);
              let items = 0, merging = 0, zero = 0;
              for (const q of procs) {
                const k = q.ksmStat();
                expect(k.ksmProcessProfit).toBe((k.ksmMergingPages + k.ksmZeroPages) * 4096 - k.ksmRmapItems * 64);
                items += k.ksmRmapItems;
                merging += k.ksmMergingPages;
                zero += k.ksmZeroPages;
              }
              expect(items).toBe(rmap);
              expect(merging).toBe(s.pagesShared + s.pagesSharing);
              expect(zero).toBe(s.ksmZeroPages);
              expect(s.pagesVolatile).toBeGreaterThanOrEqual(0);
              if (s.stableNodeDups > 0) expect(s.stableNodeChains).toBeGreaterThan(0);
            };
            for (const o of r.ops) {
              if (o.kind === "scan") scan(sim, o.n);
              else if (o.kind === "run") sim.ksmRun(o.ms);
              else {
                const q = procs[o.who % procs.length]!;
                if (o.kind === "write") q.write(a(o.at), o.n * P, typeof o.c === "bigint" ? { value: o.c } : o.c);
                else if (o.kind === "munmap") ok(q.munmap(a(o.at), o.n * P));
                else q.madvise(a(o.at), o.n * P, o.kind);
              }
              check();
            }
            scan(sim, 2);
            check();
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
