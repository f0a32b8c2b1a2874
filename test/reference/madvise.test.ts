/**
 * madvise(2) through the facade (bindings/reference/madvise.ts): the errno
 * of each bad argument (spec §4). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { VM_DONTCOPY } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, fails, has, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("madvise errors", () => {
    it("a hole: the advice is applied to every mapped part, then ENOMEM (A7)", () => {
      const { p } = sim();
      anon(p, 1, 2);
      anon(p, 5, 2);
      fails(p.madvise(a(1), 6 * P, "dontfork"), "ENOMEM");
      expect(has(at(p, 1).flags, VM_DONTCOPY)).toBe(true);
      expect(has(at(p, 5).flags, VM_DONTCOPY)).toBe(true);
      // Starting in a hole works the same way.
      fails(p.madvise(a(0), 3 * P, "dodump"), "ENOMEM");
      fails(p.madvise(a(0), 7 * P, "dofork"), "ENOMEM");
      expect(has(at(p, 1).flags, VM_DONTCOPY)).toBe(false);
      expect(has(at(p, 5).flags, VM_DONTCOPY)).toBe(false);
    });

    it("a range with nothing mapped is ENOMEM", () => {
      const { p } = sim();
      fails(p.madvise(a(0), P, "dontfork"), "ENOMEM");
      fails(p.madvise(a(0), P, "willneed"), "ENOMEM");
    });

    it("unaligned start or unknown advice is EINVAL; len 0 is a no-op", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.madvise(a(0) + 1, P, "dontfork"), "EINVAL");
      fails(p.madvise(a(0), P, 1000), "EINVAL");
      expect(ok(p.madvise(a(0), 0, "dontfork"))).toBe(0);
      expect(has(at(p, 0).flags, VM_DONTCOPY)).toBe(false);
    });

    it("WIPEONFORK on shared anonymous memory is EINVAL (A6)", () => {
      const { p } = sim();
      ok(p.mmap(a(0), 2 * P, "rw-", "shared|anon|fixed"));
      const before = p.vmas();
      fails(p.madvise(a(0), 2 * P, "wipeonfork"), "EINVAL");
      expect(p.vmas()).toEqual(before);
    });

    it("a split refused by max_map_count: EAGAIN for madvise, ENOMEM for mprotect and mlock", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 10);
      s.maxMapCount = 1;
      const before = p.vmas();
      fails(p.madvise(a(3), 2 * P, "dontfork"), "EAGAIN");
      fails(p.mprotect(a(3), 2 * P, "r--"), "ENOMEM");
      fails(p.mlock(a(3), 2 * P), "ENOMEM");
      expect(p.vmas()).toEqual(before);
      // Whole-VMA changes need no split and succeed at the limit.
      ok(p.madvise(a(0), 10 * P, "dontfork"));
      ok(p.mprotect(a(0), 10 * P, "r--"));
      expect(layout(p)).toEqual([[0, 10]]);
    });

    it("the first split of an interior range is not undone when the second one hits the limit", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 10);
      s.maxMapCount = 2;
      fails(p.madvise(a(3), 2 * P, "dontfork"), "EAGAIN");
      expect(layout(p)).toEqual([[0, 3], [3, 10]]);
      expect(p.vmas().some((v) => has(v.flags, VM_DONTCOPY))).toBe(false);
    });
  });
});
