/**
 * mremap(2) through the facade (bindings/reference/mremap.ts): the errno of
 * each bad argument (spec §4). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { EINVAL } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, fails, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("mremap errors", () => {
    it("flags other than MAYMOVE|FIXED|DONTUNMAP are EINVAL", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 2);
      expect(s.engine.mremap(p.pid, a(0), P, 2 * P, 8, 0)).toBe(-EINVAL);
      expect(s.engine.mremap(p.pid, a(0), P, 2 * P, 1 | 16, 0)).toBe(-EINVAL);
    });

    it("unaligned address and new_len 0 are EINVAL", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.mremap(a(0) + 1, P, 2 * P), "EINVAL");
      fails(p.mremap(a(0), P, 0), "EINVAL");
    });

    it("FIXED or DONTUNMAP without MAYMOVE, an unaligned new address, or overlapping ranges are EINVAL", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 4);
      expect(s.engine.mremap(p.pid, a(0), P, P, 2, a(20))).toBe(-EINVAL); // FIXED alone
      fails(p.mremap(a(0), P, P, { dontunmap: true }), "EINVAL");
      fails(p.mremap(a(0), P, P, { fixed: a(20) + 1 }), "EINVAL");
      fails(p.mremap(a(0), 4 * P, 4 * P, { fixed: a(2) }), "EINVAL"); // R10
      expect(layout(p)).toEqual([[0, 4]]);
    });

    it("DONTUNMAP with a size change is EINVAL (R10)", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.mremap(a(0), 2 * P, 4 * P, { maymove: true, dontunmap: true }), "EINVAL");
      expect(layout(p)).toEqual([[0, 2]]);
    });

    it("old_len 0 (duplicate) of a private mapping is EINVAL", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.mremap(a(0), 0, P, { maymove: true }), "EINVAL");
    });

    it("no VMA at addr is EFAULT", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.mremap(a(10), P, 2 * P, { maymove: true }), "EFAULT");
      fails(p.mremap(a(10), 2 * P, P), "EFAULT");
    });

    it("growing a range that spans several VMAs is EFAULT (R8)", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "r--");
      fails(p.mremap(a(0), 4 * P, 6 * P, { maymove: true }), "EFAULT");
      expect(layout(p)).toEqual([[0, 2], [2, 4]]);
    });

    it("a multi-VMA move keeps the gaps (R7, 6.17+); on 6.16 it is EFAULT", () => {
      const { p } = sim();
      anon(p, 1, 2);
      anon(p, 3, 2, "r--");
      anon(p, 6, 2);
      expect(ok(p.mremap(a(1), 7 * P, 7 * P, { fixed: a(20) }))).toBe(a(20));
      expect(layout(p)).toEqual([[20, 22], [22, 24], [25, 27]]);
      const old = sim("6.16").p;
      anon(old, 1, 2);
      anon(old, 3, 2, "r--");
      anon(old, 6, 2);
      fails(old.mremap(a(1), 7 * P, 7 * P, { fixed: a(20) }), "EFAULT");
      expect(layout(old)).toEqual([[1, 3], [3, 5], [6, 8]]);
    });

    it("a multi-VMA move whose range starts in a hole is EFAULT (R8)", () => {
      const { p } = sim();
      anon(p, 1, 2);
      fails(p.mremap(a(0), 3 * P, 3 * P, { fixed: a(20) }), "EFAULT");
      expect(layout(p)).toEqual([[1, 3]]);
    });

    it("growing into a used range without MAYMOVE is ENOMEM; with MAYMOVE it moves (R2)", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "r--");
      fails(p.mremap(a(0), 2 * P, 4 * P), "ENOMEM");
      expect(layout(p)).toEqual([[0, 2], [2, 4]]);
      const to = ok(p.mremap(a(0), 2 * P, 4 * P, { maymove: true }));
      expect(to).not.toBe(a(0));
      expect(layout(p)).toEqual([[2, 4]]);
      const moved = p.findVma(to);
      expect(moved === null ? null : [moved.start, moved.end]).toEqual([to, to + 4 * P]);
    });

    it("shrink, grow in place, grow up to the next VMA merges with it (R1)", () => {
      const { p } = sim();
      anon(p, 1, 4);
      expect(ok(p.mremap(a(1), 4 * P, 2 * P))).toBe(a(1));
      expect(layout(p)).toEqual([[1, 3]]);
      expect(ok(p.mremap(a(1), 2 * P, 4 * P))).toBe(a(1));
      expect(layout(p)).toEqual([[1, 5]]);
      ok(p.munmap(a(3), 2 * P));
      anon(p, 5, 2);
      expect(layout(p)).toEqual([[1, 3], [5, 7]]);
      expect(ok(p.mremap(a(1), 2 * P, 4 * P))).toBe(a(1));
      expect(layout(p)).toEqual([[1, 7]]);
    });

    it("an unfaulted move lands mergeable anywhere; a faulted one keeps its pgoff (R3, R4)", () => {
      const { p } = sim();
      anon(p, 1, 2);
      anon(p, 10, 2);
      ok(p.mremap(a(10), 2 * P, 2 * P, { fixed: a(3) }));
      expect(layout(p)).toEqual([[1, 5]]);
      const q = sim().p;
      anon(q, 1, 2);
      anon(q, 10, 2);
      ok(q.write(a(10), 2 * P));
      ok(q.mremap(a(10), 2 * P, 2 * P, { fixed: a(3) }));
      expect(layout(q)).toEqual([[1, 3], [3, 5]]);
    });
  });
});
