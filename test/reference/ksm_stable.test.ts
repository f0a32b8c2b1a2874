/**
 * The stable tree (bindings/reference/ksm_stable.ts) rule by rule, as ksmd's
 * counters show it through the public facade, on both engines (eachEngine,
 * test/support/engines.ts): the max_page_sharing arithmetic of n copies of
 * one content (chains and dups), stale stable nodes, chain fast path /
 * prune / collapse / empty chains. Expectations come from the research notes
 * on KSM (ksm-spec, with docs/ksm.md, § numbers below), its live-measured
 * traces (§11.3) and, where the spec is silent, mm/ksm.c of 6.18
 * (stable-tree walks resolve every node on their path).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AddressSpace, Simulation } from "../../bindings/facade.js";
import { eachEngine } from "../support/engines.js";
import { P, a, ksmSim, ok } from "../support/facade.js";
import { fill, g, nModM, proc, region, scan } from "./ksm_helpers.js";

// ---------------------------------------------------------------------------------------------

eachEngine(() => {
  describe("§2.8 n copies of one content with max_page_sharing m", () => {
    const table: [number, number][] = [
      [1, 2], [2, 2], [3, 2], [600, 2], [599, 2], [7, 3], [8, 3], [9, 3], [10, 3], [301, 3], [256, 256], [257, 256],
      [258, 256], [500, 256], [512, 256], [513, 256], [600, 256], [1, 256], [2, 256],
    ];
    it.each(table)("n=%i copies, m=%i: KSM pages = floor(n/m) + (n mod m >= 2), a lone leftover stays unshared", (n, m) => {
      const sim = ksmSim({ max_page_sharing: String(m) });
      const p = sim.process("main");
      region(p, 0, n);
      fill(p, 0, n, 0xcfn);
      scan(sim, 2);
      const want = nModM(n, m);
      expect(g(sim)).toEqual(want);
      expect(proc(p)).toEqual({ rmap: n, merging: want.shared + want.sharing, zero: 0 });
      // Converged: more passes change nothing (smart scan off).
      scan(sim, 2);
      expect(g(sim)).toEqual(want);
    });

    it("property: any n <= 600, m in {2..6, 256}, and several contents side by side add up", () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 3 }),
          fc.constantFrom(2, 3, 4, 5, 6, 256),
          (counts, m) => {
            const sim = ksmSim({ max_page_sharing: String(m) });
            const p = sim.process("main");
            let at = 0;
            counts.forEach((n, i) => {
              region(p, at, n);
              fill(p, at, n, BigInt(100 + i));
              at += n + 1; // a hole between the contents
            });
            scan(sim, 2);
            const want = counts.map((n) => nModM(n, m)).reduce((s, x) => ({
              shared: s.shared + x.shared, sharing: s.sharing + x.sharing, unshared: s.unshared + x.unshared, volatile: 0,
              chains: s.chains + x.chains, dups: s.dups + x.dups, zero: 0, rmap: s.rmap + x.rmap,
            }));
            expect(g(sim)).toEqual(want);
          },
        ),
        { numRuns: 40 },
      );
    });

    it("the leftover page (n mod m == 1) alternates unshared/volatile under smart scan, like any unique page", () => {
      const sim = ksmSim({ max_page_sharing: "3", smart_scan: "1" });
      const p = sim.process("main");
      region(p, 0, 7);
      fill(p, 0, 7, 4n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 4, unshared: 1, volatile: 0 });
      scan(sim, 2); // visits 3, 4: processed
      expect(g(sim)).toMatchObject({ unshared: 1, volatile: 0 });
      scan(sim); // visit 5: skipped
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 4, unshared: 0, volatile: 1 });
    });
  });

  describe("§2.8 stale stable nodes", () => {
    it("when every mapping of a KSM page is gone, the first visit drops the whole node at once", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0x41n);
      scan(sim, 2);
      fill(p, 0, 10, "unique"); // every mapping CoW'd: the KSM page is freed
      ok(sim.ksmWrite("pages_to_scan", "1"));
      sim.ksmRun(20); // one batch: one page processed
      expect(sim.ksmStat().pagesScanned).toBe(21);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 10, chains: 0, dups: 0, zero: 0, rmap: 10 });
      expect(proc(p)).toEqual({ rmap: 10, merging: 0, zero: 0 });
    });

    it("a stable-tree walk for another content meets the stale node and drops it (lazy discovery)", () => {
      // Page 0 holds a unique content (its lookups walk the stable tree from the root); pages 1-10 merged.
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 11);
      fill(p, 0, 1, 0x99n);
      fill(p, 1, 10, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9, unshared: 1 });
      fill(p, 1, 10, "unique"); // the KSM page is freed
      ok(sim.ksmWrite("pages_to_scan", "1"));
      sim.ksmRun(20); // page 0 only: its walk resolves the root, finds the page gone, drops the node
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 1, volatile: 10, chains: 0, dups: 0, zero: 0, rmap: 11 });
      expect(proc(p).merging).toBe(0);
    });

    it("while one mapping remains the node is not stale: items leave one by one", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 10);
      fill(p, 0, 10, 0x41n);
      scan(sim, 2);
      fill(p, 0, 9, "unique");
      ok(sim.ksmWrite("pages_to_scan", "1"));
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 8, volatile: 1 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 0, volatile: 9 });
    });

    it("a page that leaves and rejoins a KSM page many times: the node's removal still finds all its items", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 3);
      fill(p, 0, 3, 0x41n);
      scan(sim, 2);
      for (let i = 0; i < 25; i++) {
        fill(p, 2, 1, BigInt(0x1000 + i)); // CoW: page 2 leaves the node at its next visit
        scan(sim);
        expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, volatile: 1 });
        fill(p, 2, 1, 0x41n); // the same content again: it merges with the KSM page once its checksum held a pass
        scan(sim, 2);
        expect(g(sim)).toMatchObject({ shared: 1, sharing: 2, volatile: 0 });
        expect(proc(p).merging).toBe(3);
      }
      fill(p, 0, 3, "unique");
      ok(sim.ksmWrite("pages_to_scan", "1"));
      sim.ksmRun(20); // one visit drops the stale node and, with it, all three pages' membership
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 3, chains: 0, dups: 0, zero: 0, rmap: 3 });
      expect(proc(p)).toEqual({ rmap: 3, merging: 0, zero: 0 });
    });

    it("the node's removal updates every owner mm's merging pages, before ksmd visits the other mm", () => {
      const sim = ksmSim();
      const p1 = sim.process("one");
      const p2 = sim.process("two");
      region(p1, 0, 5);
      fill(p1, 0, 5, 0x41n);
      region(p2, 0, 5);
      fill(p2, 0, 5, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 9 });
      expect([proc(p1).merging, proc(p2).merging]).toEqual([5, 5]);
      fill(p1, 0, 5, "unique");
      fill(p2, 0, 5, "unique");
      ok(sim.ksmWrite("pages_to_scan", "1"));
      sim.ksmRun(20);
      expect(g(sim)).toMatchObject({ shared: 0, sharing: 0, volatile: 10 });
      expect(proc(p1)).toEqual({ rmap: 5, merging: 0, zero: 0 });
      expect(proc(p2)).toEqual({ rmap: 5, merging: 0, zero: 0 });
    });

    it("a stale dup leaves its chain at once (dups - 1); the chain itself stays until a lookup", () => {
      const sim = ksmSim({ max_page_sharing: "4" });
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 8, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 6, chains: 1, dups: 2 });
      // Pages 0-3 map the first KSM page (the older dup): CoW them all.
      fill(p, 0, 4, "unique");
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 3, chains: 1, dups: 1, volatile: 4 });
    });
  });

  describe("§2.8 chains and dups", () => {
    // Mappings are removed with MADV_DONTNEED here, not by CoW: a CoW'd page with
    // an unchanged checksum searches the stable tree at its next visit, and every
    // search resolves the chains on its path (prune, stale dups, collapse), which
    // would blur which lookup did what.

    /**
     * max_page_sharing 4: 8 copies make dups X (pages 0-3) and Y (4-7, the
     * head). Zap pages 0, 4, 5 (X keeps 3 mappings, Y 2) and write a ninth copy
     * at page 8; at its second visit, the only stable-tree lookup of that pass,
     * it picks Y (fast path: the head has room) or X (prune: the fullest with
     * room). Then zap pages 1-3: X is stale only if page 8 went to Y.
     */
    function chainScenario(beforeChoice: (sim: Simulation) => void): { sim: Simulation; p: AddressSpace } {
      const sim = ksmSim({ max_page_sharing: "4" });
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 8, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 6, chains: 1, dups: 2 });
      ok(p.madvise(a(0), P, "dontneed"));
      ok(p.madvise(a(4), 2 * P, "dontneed"));
      fill(p, 8, 1, 0x41n);
      scan(sim);
      expect(g(sim)).toEqual({ shared: 2, sharing: 3, unshared: 0, volatile: 1, chains: 1, dups: 2, zero: 0, rmap: 6 });
      beforeChoice(sim);
      scan(sim);
      expect(g(sim)).toEqual({ shared: 2, sharing: 4, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 6 });
      ok(p.madvise(a(1), 3 * P, "dontneed"));
      scan(sim);
      return { sim, p };
    }

    /** ksmd stopped, only the simulated clock moves. */
    function advanceClock(sim: Simulation, ms: number): void {
      ok(sim.ksmWrite("run", "0"));
      sim.ksmRun(ms);
      ok(sim.ksmWrite("run", "1"));
    }

    it("creation: copies beyond max_page_sharing make a chain; the old node becomes its first dup", () => {
      const sim = ksmSim({ max_page_sharing: "4" });
      const p = sim.process("main");
      region(p, 0, 6);
      fill(p, 0, 4, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 3, chains: 0, dups: 0 });
      fill(p, 4, 1, 0x41n);
      scan(sim, 2);
      // One more copy finds the node full and no partner: unshared, no chain yet.
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 3, unshared: 1, chains: 0, dups: 0 });
      fill(p, 5, 1, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 4, unshared: 0, chains: 1, dups: 2 });
    });

    it("fast path: before stable_node_chains_prune_millisecs has passed, the head dup with room is chosen", () => {
      const { sim } = chainScenario(() => {});
      // X lost all its mappings: dropped as stale at its first item's removal; the chain keeps Y alone.
      expect(g(sim)).toEqual({ shared: 1, sharing: 2, unshared: 0, volatile: 0, chains: 1, dups: 1, zero: 0, rmap: 3 });
    });

    it("prune mode: once stable_node_chains_prune_millisecs of simulated time have passed, the fullest dup with room is chosen", () => {
      const { sim } = chainScenario((s) => advanceClock(s, 2000));
      // Page 8 went to X: X keeps it after pages 1-3 are zapped, Y keeps 6 and 7.
      expect(g(sim)).toEqual({ shared: 2, sharing: 1, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 3 });
    });

    it("prune mode with stable_node_chains_prune_millisecs=0 prunes at every lookup", () => {
      const { sim } = chainScenario((s) => ok(s.ksmWrite("stable_node_chains_prune_millisecs", "0")));
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 1, chains: 1, dups: 2 });
    });

    it("prune_millisecs counts from the chain's creation: a clock short of it keeps the fast path", () => {
      const { sim } = chainScenario((s) => advanceClock(s, 1000));
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 2, chains: 1, dups: 1 });
    });

    it("prune_millisecs counts from the chain's creation, not from time 0: a chain created late is not pruned at once", () => {
      const sim = ksmSim({ max_page_sharing: "4" });
      advanceClock(sim, 3000);
      const p = sim.process("main");
      region(p, 0, 20);
      fill(p, 0, 6, 0x41n); // the chain appears at page 5, the last copy: no lookup after it in that pass
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 4, chains: 1, dups: 2 });
      ok(p.madvise(a(0), P, "dontneed")); // X 3 mappings, Y (head) 2
      fill(p, 8, 1, 0x41n);
      scan(sim, 2); // page 8 -> Y by the fast path (prune would pick X)
      ok(p.madvise(a(1), 3 * P, "dontneed"));
      scan(sim);
      expect(g(sim)).toEqual({ shared: 1, sharing: 2, unshared: 0, volatile: 0, chains: 1, dups: 1, zero: 0, rmap: 3 });
    });

    it("collapse: the next lookup of a chain left with one dup puts that dup back in the tree (chains and dups - 1)", () => {
      const { sim, p } = chainScenario(() => {});
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 2, chains: 1, dups: 1 });
      fill(p, 9, 1, 0x41n);
      scan(sim);
      expect(g(sim)).toMatchObject({ chains: 1, dups: 1 });
      scan(sim);
      expect(g(sim)).toEqual({ shared: 1, sharing: 3, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 4 });
    });

    it("collapse happens on any walk through the chain: a lookup of another content collapses it (the chain is the root)", () => {
      const { sim, p } = chainScenario(() => {});
      expect(g(sim)).toMatchObject({ chains: 1, dups: 1 });
      fill(p, 12, 1, 0x99n); // another content: its second visit searches the stable tree from the root
      scan(sim);
      expect(g(sim)).toMatchObject({ chains: 1, dups: 1, volatile: 1 });
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 2, unshared: 1, chains: 0, dups: 0 });
    });

    it("prune happens at most once per stable_node_chains_prune_millisecs: the next lookup takes the fast path again", () => {
      // m=4, 12 copies: dups Z (8-11, head), Y (4-7), X (0-3). Zap so that Z has 1, Y 2, X 3 mappings.
      // Lookup of page 20 (prune due): X, the fullest with room (3), now full and not moved.
      // Lookup of page 21 right after: fast path, the head Z (a second prune would pick Y).
      const sim = ksmSim({ max_page_sharing: "4" });
      const p = sim.process("main");
      region(p, 0, 30);
      fill(p, 0, 12, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 3, sharing: 9, chains: 1, dups: 3 });
      ok(p.madvise(a(8), 3 * P, "dontneed"));
      ok(p.madvise(a(4), 2 * P, "dontneed"));
      ok(p.madvise(a(0), P, "dontneed"));
      fill(p, 20, 2, 0x41n);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 3, sharing: 3, volatile: 2 });
      advanceClock(sim, 2000);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 3, sharing: 5, volatile: 0, chains: 1, dups: 3 });
      // Zap Z's original mapping (page 11): Z survives only if page 21 went to it.
      ok(p.madvise(a(11), P, "dontneed"));
      scan(sim);
      // X: 1-3 and 20; Y: 6, 7; Z: 21.
      expect(g(sim)).toEqual({ shared: 3, sharing: 4, unshared: 0, volatile: 0, chains: 1, dups: 3, zero: 0, rmap: 7 });
    });

    it("a dup picked in prune mode moves to the head when it can take two more mappings", () => {
      // m=6: X (pages 0-5) and Y (6-11, head). Zap 3 of X and 4 of Y: X 3, Y 2.
      // Page 20 (prune due) picks X, the fullest with room (3 + 1 < 6): X moves to the
      // head, so the next lookups (fast path) take X as well, until it is full.
      const sim = ksmSim({ max_page_sharing: "6" });
      const p = sim.process("main");
      region(p, 0, 40);
      fill(p, 0, 12, 0x41n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 10, chains: 1, dups: 2 });
      ok(p.madvise(a(0), 3 * P, "dontneed"));
      ok(p.madvise(a(6), 4 * P, "dontneed"));
      fill(p, 20, 3, 0x41n);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 3, volatile: 3 });
      advanceClock(sim, 2000);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 6, volatile: 0 });
      // Zap Y's remaining mappings (10, 11): Y is stale only if none of 20-22 went to it.
      ok(p.madvise(a(10), 2 * P, "dontneed"));
      scan(sim);
      expect(g(sim)).toEqual({ shared: 1, sharing: 5, unshared: 0, volatile: 0, chains: 1, dups: 1, zero: 0, rmap: 6 });
    });

    it("without the head move (the picked dup has room for one only) the fast path goes back to the head", () => {
      // Same as above with X at 4 mappings (4 + 1 < 6 fails): page 20 -> X (5, not moved),
      // 21 -> head Y (fast path), 22 -> Y.
      const sim = ksmSim({ max_page_sharing: "6" });
      const p = sim.process("main");
      region(p, 0, 40);
      fill(p, 0, 12, 0x41n);
      scan(sim, 2);
      ok(p.madvise(a(0), 2 * P, "dontneed"));
      ok(p.madvise(a(6), 4 * P, "dontneed"));
      fill(p, 20, 3, 0x41n);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 4, volatile: 3 });
      advanceClock(sim, 2000);
      scan(sim);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 7 });
      // Zap X's original mappings (2-5): X keeps page 20 only.
      ok(p.madvise(a(2), 4 * P, "dontneed"));
      scan(sim);
      expect(g(sim)).toEqual({ shared: 2, sharing: 3, unshared: 0, volatile: 0, chains: 1, dups: 2, zero: 0, rmap: 5 });
    });

    it("§11.3 the empty chain lingers: unmerging all of a 2-dup content leaves stable_node_chains 1, dups 0", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 512);
      fill(p, 0, 512, 0xcfcfcfcfcfcfcfcfn);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 2, sharing: 510, chains: 1, dups: 2 });
      ok(p.madvise(a(0), 512 * P, "unmergeable"));
      scan(sim);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, chains: 1, dups: 0, zero: 0, rmap: 0 });
      expect(p.ksmStat()).toMatchObject({ ksmRmapItems: 0, ksmMergingPages: 0, ksmMergeable: false });
      // The next lookup that walks the chain finds no dup and frees it.
      region(p, 1000, 2);
      fill(p, 1000, 2, 0xcfcfcfcfcfcfcfcfn);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 1, sharing: 1, chains: 0, dups: 0 });
    });
  });

  // The Wasm engine answers stable-tree searches (and unstable ones within a pass) from content
  // indexes whose home slots keep consecutive contents together: contents that crowd a few slots
  // must merge exactly as any others (docs/ksm.md, "Speed").
  describe("many contents, however their values are spread", () => {
    /** Content k of a spread: consecutive, high bits only, page-aligned, mixed, scrambled. */
    const spreads: ((k: bigint) => bigint)[] = [
      (k) => k,
      (k) => k << 44n,
      (k) => k << 12n,
      (k) => (k << 32n) | k,
      (k) => (k * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn,
    ];

    it("200 contents that differ only above bit 44, three copies each, merge; rewritten, they go unshared; written back, merge again", () => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 600);
      const content = (i: number) => BigInt((i % 200) + 1) << 44n;
      for (let i = 0; i < 600; i++) fill(p, i, 1, content(i));
      scan(sim, 2);
      expect(g(sim)).toEqual({ shared: 200, sharing: 400, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 600 });
      // Every copy of contents 1-80 rewritten: their KSM pages go stale, the pages are unique now.
      const rewritten = [...Array(600).keys()].filter((i) => i % 200 < 80);
      for (const i of rewritten) fill(p, i, 1, "unique");
      scan(sim, 2);
      expect(g(sim)).toEqual({ shared: 120, sharing: 240, unshared: 240, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 600 });
      for (const i of rewritten) fill(p, i, 1, content(i));
      scan(sim, 2);
      expect(g(sim)).toEqual({ shared: 200, sharing: 400, unshared: 0, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: 600 });
    });

    // Three contents a < b < c in memcmp order (the least significant byte first), merged in that order:
    // the stable tree is b with children a and c, so a's node's bounds end at a and c's start at c.
    // In the last case the numeric order is another (0x300 > 0x2 > 0x1).
    const trees: [string, [bigint, bigint, bigint], number, bigint | "unique"][] = [
      ["a, numbers in memcmp order", [1n << 56n, 2n << 56n, 3n << 56n], 0, "unique"],
      ["c, numbers in memcmp order", [1n << 56n, 2n << 56n, 3n << 56n], 2, 0n],
      ["a, numbers in another order", [0x300n, 0x1n, 0x2n], 0, 0x5n],
    ];
    it.each(trees)("a search for the content of a stale node still in the tree meets the node and drops it (%s)", (_, abc, stale, decoy) => {
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 200);
      abc.forEach((c, i) => fill(p, 100 + 2 * i, 2, c));
      // Page 0's content is searched for first in every pass, on a path that misses the stale node.
      fill(p, 0, 1, decoy);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 3, sharing: 3, unshared: 1 });
      fill(p, 50, 1, abc[stale]!);
      scan(sim);
      // Both copies rewritten: the node is stale until ksmd reaches them, after page 50, whose search
      // must meet the stale node, drop it, and file page 50 in the unstable tree.
      fill(p, 100 + 2 * stale, 2, "unique");
      scan(sim);
      expect(g(sim)).toEqual({ shared: 2, sharing: 2, unshared: 2, volatile: 2, chains: 0, dups: 0, zero: 0, rmap: 8 });
    });

    it.each([
      ["6 then 5", [110, 108]],
      ["5 then 6", [108, 110]],
    ])("a stale node below another: a search for the upper one's content still meets it (stale %s)", (_, order) => {
      // Contents k << 48, k = 1..7 (memcmp keys k << 8), merged in order: the stable tree is
      // 2 (1, 4 (3, 6 (5, 7))). Nodes 6 and 5, its left child, go stale: their bounds start at the
      // same content, and 6's reach further.
      const sim = ksmSim();
      const p = sim.process("main");
      region(p, 0, 200);
      for (let k = 1; k <= 7; k++) fill(p, 100 + 2 * (k - 1), 2, BigInt(k) << 48n);
      // Searched for first in every pass (two searches: one per stale node), on paths that miss nodes
      // 5 and 6: memcmp keys 1 and 2, below every node's.
      fill(p, 0, 1, 1n << 56n);
      fill(p, 1, 1, 2n << 56n);
      scan(sim, 2);
      expect(g(sim)).toMatchObject({ shared: 7, sharing: 7, unshared: 2 });
      fill(p, 50, 1, 6n << 48n);
      scan(sim);
      for (const page of order as number[]) fill(p, page, 2, "unique");
      scan(sim);
      // Page 50's search met node 6 (and 5) and dropped them: page 50 is in the unstable tree.
      expect(g(sim)).toEqual({ shared: 5, sharing: 5, unshared: 3, volatile: 4, chains: 0, dups: 0, zero: 0, rmap: 17 });
    });

    it("random layouts of contents from every spread: after two passes, shared = contents with copies, unshared = lone pages", () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ spread: fc.nat(spreads.length - 1), k: fc.integer({ min: 1, max: 5000 }), copies: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 150 }),
          fc.nat(),
          (contents, seed) => {
            const values = new Map<bigint, number>();
            for (const c of contents) {
              const v = spreads[c.spread]!(BigInt(c.k));
              values.set(v, (values.get(v) ?? 0) + c.copies);
            }
            const pages = [...values].flatMap(([v, n]) => Array<bigint>(n).fill(v));
            // A fixed shuffle of the pages (seeded), so copies are spread over the region.
            let s = seed | 1;
            for (let i = pages.length - 1; i > 0; i--) {
              s = (s * 1103515245 + 12345) & 0x7fffffff;
              const j = s % (i + 1);
              [pages[i], pages[j]] = [pages[j]!, pages[i]!];
            }
            const sim = ksmSim();
            const p = sim.process("main");
            region(p, 0, pages.length);
            pages.forEach((v, i) => fill(p, i, 1, v));
            scan(sim, 2);
            const counts = [...values.values()];
            const shared = counts.filter((n) => n >= 2).length;
            const sharing = counts.filter((n) => n >= 2).reduce((t, n) => t + n - 1, 0);
            const unshared = counts.filter((n) => n === 1).length;
            expect(g(sim)).toEqual({ shared, sharing, unshared, volatile: 0, chains: 0, dups: 0, zero: 0, rmap: pages.length });
          },
        ),
        { numRuns: 40 },
      );
    });
  });
});
