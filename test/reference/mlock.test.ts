/**
 * mlock(2) and munlock(2) through the facade (bindings/reference/mlock.ts):
 * the errno of each bad argument (spec §4). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { VM_LOCKED } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, fails, has, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("mlock errors", () => {
    it("a hole is ENOMEM after the VMAs before it are locked", () => {
      const { p } = sim();
      anon(p, 1, 3);
      anon(p, 5, 3);
      fails(p.mlock(a(1), 7 * P), "ENOMEM");
      expect(has(at(p, 1).flags, VM_LOCKED)).toBe(true);
      expect(has(at(p, 5).flags, VM_LOCKED)).toBe(false);
      fails(p.munlock(a(1), 7 * P), "ENOMEM");
      expect(has(at(p, 1).flags, VM_LOCKED)).toBe(false);
    });

    it("a range starting in a hole is ENOMEM and changes nothing", () => {
      const { p } = sim();
      anon(p, 1, 3);
      const before = p.vmas();
      fails(p.mlock(a(0), 4 * P), "ENOMEM");
      expect(p.vmas()).toEqual(before);
    });

    it("mlock then munlock of part of a VMA splits and re-merges (L1)", () => {
      const { p } = sim();
      anon(p, 1, 10);
      ok(p.mlock(a(3), 2 * P));
      expect(layout(p)).toEqual([[1, 3], [3, 5], [5, 11]]);
      expect(at(p, 3).vmflags).toContain("lo");
      ok(p.munlock(a(3), 2 * P));
      expect(layout(p)).toEqual([[1, 11]]);
    });
  });
});
