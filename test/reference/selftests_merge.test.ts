/**
 * The kernel's merge selftests (tools/testing/selftests/mm/merge.c) through
 * the facade (spec §7.2). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { Simulation } from "../../bindings/facade.js";
import { eachEngine, engine } from "../support/engines.js";
import { a, anon, at, layout, ok, P, sim, W } from "../support/facade.js";

eachEngine(() => {
  describe("merge.c selftests through the facade (spec §7.2)", () => {
    const nr = "|noreserve";
    it("mprotect_unfaulted_left", () => {
      const { p } = sim();
      anon(p, 1, 10, "rw-", nr);
      ok(p.mprotect(a(1), 5 * P, "r--"));
      ok(p.write(a(6), P));
      ok(p.mprotect(a(6), 5 * P, "r--"));
      expect(layout(p)).toEqual([[1, 11]]);
    });

    it("mprotect_unfaulted_right", () => {
      const { p } = sim();
      anon(p, 1, 10, "rw-", nr);
      ok(p.mprotect(a(6), 5 * P, "r--"));
      ok(p.write(a(1), P));
      ok(p.mprotect(a(1), 5 * P, "r--"));
      expect(layout(p)).toEqual([[1, 11]]);
    });

    it("mprotect_unfaulted_both", () => {
      const { p } = sim();
      anon(p, 2, 9, "rw-", nr);
      ok(p.mprotect(a(2), 3 * P, "r--"));
      ok(p.mprotect(a(8), 3 * P, "r--"));
      ok(p.write(a(5), P));
      ok(p.mprotect(a(5), 3 * P, "r--"));
      expect(layout(p)).toEqual([[2, 11]]);
    });

    it("mprotect_faulted_left_unfaulted_right", () => {
      const { p } = sim();
      anon(p, 2, 9, "rw-", nr);
      ok(p.mprotect(a(8), 3 * P, "r--"));
      ok(p.write(a(2), P));
      ok(p.mprotect(a(2), 3 * P, "r--"));
      ok(p.mprotect(a(5), 3 * P, "r--"));
      expect(layout(p)).toEqual([[2, 11]]);
    });

    it("mprotect_unfaulted_left_faulted_right", () => {
      const { p } = sim();
      anon(p, 2, 9, "rw-", nr);
      ok(p.mprotect(a(2), 3 * P, "r--"));
      ok(p.write(a(5), P));
      ok(p.mprotect(a(8), 3 * P, "r--"));
      ok(p.mprotect(a(5), 3 * P, "r--"));
      expect(layout(p)).toEqual([[2, 11]]);
    });

    it("the same mprotect_unfaulted_left on the old anon_vma rule does not merge", () => {
      const s = new Simulation({ engine: engine(), set: ["anonVmaSourceRule=off"] });
      const p = s.process("main");
      anon(p, 1, 10, "rw-", nr);
      ok(p.mprotect(a(1), 5 * P, "r--"));
      ok(p.write(a(6), P));
      ok(p.mprotect(a(6), 5 * P, "r--"));
      expect(layout(p)).toEqual([[1, 6], [6, 11]]);
    });

    it("mremap_unfaulted_to_faulted", () => {
      const { p } = sim();
      anon(p, 1, 5);
      anon(p, 7, 5);
      ok(p.mremap(a(7), 5 * P, 5 * P, { fixed: a(1000) }));
      ok(p.write(a(1), 5 * P));
      ok(p.mremap(a(1000), 5 * P, 5 * P, { fixed: a(6) }));
      expect(layout(p)).toEqual([[1, 11]]);
    });

    it("mremap_unfaulted_between_faulted: A and C keep distinct anon_vmas", () => {
      const { p } = sim();
      anon(p, 1, 5);
      anon(p, 7, 5);
      anon(p, 14, 5);
      ok(p.mremap(a(14), 5 * P, 5 * P, { fixed: a(2000) }));
      ok(p.mremap(a(7), 5 * P, 5 * P, { fixed: a(1000) }));
      ok(p.write(a(1), 5 * P));
      ok(p.write(a(2000), 5 * P));
      ok(p.mremap(a(2000), 5 * P, 5 * P, { fixed: a(11) }));
      ok(p.mremap(a(1000), 5 * P, 5 * P, { fixed: a(6) }));
      expect(layout(p)).toEqual([[1, 11], [11, 16]]);
    });

    it("mremap_faulted_to_unfaulted_prev: unforked merges, forked does not (6.18.9+ fork limit)", () => {
      for (const forked of [false, true]) {
        const { sim: s, p: parent } = sim();
        anon(parent, 4, 3);
        ok(parent.write(a(4), P));
        // merge_with_fork: in the forked variant the child carries on with the test.
        const p = forked ? ok(s.fork(parent, "child")) : parent;
        ok(p.mremap(a(4), 3 * P, 3 * P, { fixed: a(20) }));
        anon(p, 1, 3);
        ok(p.mremap(a(20), 3 * P, 3 * P, { fixed: a(4), dontunmap: true }));
        const v = at(p, 1);
        expect([(v.start - W) / P, (v.end - W) / P], `forked=${forked}`).toEqual(forked ? [1, 4] : [1, 7]);
      }
    });

    it("mremap_faulted_to_unfaulted_next: unforked merges, forked does not", () => {
      for (const forked of [false, true]) {
        const { sim: s, p: parent } = sim();
        anon(parent, 1, 3);
        ok(parent.write(a(1), P));
        const p = forked ? ok(s.fork(parent, "child")) : parent;
        ok(p.mremap(a(1), 3 * P, 3 * P, { fixed: a(20) }));
        anon(p, 4, 3);
        ok(p.mremap(a(20), 3 * P, 3 * P, { fixed: a(1), dontunmap: true }));
        const v = at(p, 1);
        expect([(v.start - W) / P, (v.end - W) / P], `forked=${forked}`).toEqual(forked ? [1, 4] : [1, 7]);
      }
    });

    it("mremap_faulted_to_unfaulted_prev_unfaulted_next: unforked [1,10); forked A and B stay apart", () => {
      for (const forked of [false, true]) {
        const { sim: s, p: parent } = sim();
        anon(parent, 4, 3);
        ok(parent.write(a(4), P));
        const p = forked ? ok(s.fork(parent, "child")) : parent;
        ok(p.mremap(a(4), 3 * P, 3 * P, { fixed: a(20) }));
        anon(p, 1, 3);
        anon(p, 7, 3);
        ok(p.mremap(a(20), 3 * P, 3 * P, { fixed: a(4), dontunmap: true }));
        const win = layout(p).filter(([s0]) => s0 < 20);
        expect(win, `forked=${forked}`).toEqual(forked ? [[1, 4], [4, 7], [7, 10]] : [[1, 10]]);
      }
    });

    it("mremap_faulted_to_unfaulted_prev_faulted_next: unforked [1,10); forked B rejoins C only", () => {
      for (const forked of [false, true]) {
        const { sim: s, p: parent } = sim();
        anon(parent, 4, 6);
        ok(parent.write(a(4), P));
        const p = forked ? ok(s.fork(parent, "child")) : parent;
        ok(p.mremap(a(4), 3 * P, 3 * P, { fixed: a(20) }));
        anon(p, 1, 3);
        ok(p.mremap(a(20), 3 * P, 3 * P, { fixed: a(4), dontunmap: true }));
        const win = layout(p).filter(([s0]) => s0 < 20);
        expect(win, `forked=${forked}`).toEqual(forked ? [[1, 4], [4, 10]] : [[1, 10]]);
      }
    });

    it("R9: DONTUNMAP of an unfaulted VMA to just after itself merges with itself on 6.18.44", () => {
      const { p } = sim();
      anon(p, 1, 2);
      ok(p.mremap(a(1), 2 * P, 2 * P, { fixed: a(3), dontunmap: true }));
      expect(layout(p)).toEqual([[1, 5]]);
      const s2 = new Simulation({ engine: engine(), set: ["dontunmapSelfMerge=off"] });
      const q = s2.process("main");
      anon(q, 1, 2);
      ok(q.mremap(a(1), 2 * P, 2 * P, { fixed: a(3), dontunmap: true }));
      expect(layout(q)).toEqual([[1, 3], [3, 5]]);
    });
  });
});
