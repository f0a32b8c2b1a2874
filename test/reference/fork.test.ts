/**
 * fork through the facade (bindings/reference/fork.ts, spec §5.3). On both
 * engines (eachEngine, test/support/engines.ts); page numbers are relative
 * to the report window (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { VM_LOCKED, VM_MERGEABLE, VM_WIPEONFORK } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, has, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("fork (spec §5.3)", () => {
    it("VM_DONTCOPY VMAs are not copied", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 2);
      anon(p, 4, 2);
      ok(p.madvise(a(4), 2 * P, "dontfork"));
      const child = ok(s.fork(p, "child"));
      expect(layout(child)).toEqual([[0, 2]]);
      expect(layout(p)).toEqual([[0, 2], [4, 6]]);
    });

    it("a WIPEONFORK VMA is unfaulted in the child", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 4);
      ok(p.madvise(a(0), 4 * P, "wipeonfork"));
      ok(p.write(a(0), 4 * P));
      const child = ok(s.fork(p, "child"));
      const v = at(child, 0);
      expect([v.anonVma, v.forkChild]).toEqual([0, false]);
      expect(has(v.flags, VM_WIPEONFORK)).toBe(true);
      expect(at(p, 0).anonVma).not.toBe(0);
    });

    it("VM_LOCKED is cleared in the child", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 4);
      ok(p.mlock(a(0), 4 * P));
      const child = ok(s.fork(p, "child"));
      expect(has(at(p, 0).flags, VM_LOCKED)).toBe(true);
      expect(has(at(child, 0).flags, VM_LOCKED)).toBe(false);
    });

    it("faulted VMAs become fork children with their own anon_vma; unfaulted ones and the parent's are not", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 2);
      anon(p, 4, 2);
      ok(p.write(a(0), P));
      const child = ok(s.fork(p, "child"));
      expect(at(child, 0).forkChild).toBe(true);
      expect(at(child, 0).anonVma).not.toBe(0);
      expect(at(child, 0).anonVma).not.toBe(at(p, 0).anonVma);
      expect(at(child, 4).forkChild).toBe(false);
      expect(at(p, 0).forkChild).toBe(false);
      expect(child.vmas().map((v) => [v.start, v.end, v.flags, v.pgoff])).toEqual(p.vmas().map((v) => [v.start, v.end, v.flags, v.pgoff]));
    });

    it("forked_target_vma / F1: in the child a faulted VMA does not merge with a new neighbour; the parent is unaffected (F4)", () => {
      const { sim: s, p } = sim();
      anon(p, 1, 5);
      ok(p.write(a(1), P));
      const child = ok(s.fork(p, "child"));
      ok(child.write(a(1), 5 * P));
      anon(child, 6, 5);
      expect(layout(child)).toEqual([[1, 6], [6, 11]]);
      anon(p, 6, 5);
      expect(layout(p)).toEqual([[1, 11]]);
    });

    it("forked_source_vma / F2: a fork child's faulted VMA cannot be absorbed by an unfaulted one either", () => {
      const { sim: s, p } = sim();
      anon(p, 1, 5, "rw-", "|noreserve");
      ok(p.write(a(1), 5 * P));
      const child = ok(s.fork(p, "child"));
      ok(child.write(a(1), 5 * P));
      anon(child, 6, 5, "rwx", "|noreserve");
      expect(layout(child)).toEqual([[1, 6], [6, 11]]);
      ok(child.mprotect(a(1), 5 * P, "rwx"));
      expect(layout(child)).toEqual([[1, 6], [6, 11]]);
    });

    it("F3: an unfaulted inherited VMA merges normally in the child", () => {
      const { sim: s, p } = sim();
      anon(p, 1, 5);
      const child = ok(s.fork(p, "child"));
      anon(child, 6, 5);
      expect(layout(child)).toEqual([[1, 11]]);
    });

    it("F5, F6: pieces of one inherited VMA re-merge in the child; a refilled hole does not", () => {
      const { sim: s, p } = sim();
      anon(p, 1, 10);
      ok(p.write(a(1), 10 * P));
      const child = ok(s.fork(p, "child"));
      ok(child.mprotect(a(4), 2 * P, "r--"));
      expect(layout(child)).toEqual([[1, 4], [4, 6], [6, 11]]);
      ok(child.mprotect(a(4), 2 * P, "rw-"));
      expect(layout(child)).toEqual([[1, 11]]);
      ok(child.munmap(a(5), P));
      anon(child, 5, 1);
      expect(layout(child)).toEqual([[1, 5], [5, 6], [6, 11]]);
    });

    it("merge-any is inherited (K10)", () => {
      const { sim: s, p } = sim();
      ok(p.setMemoryMerge(1));
      const child = ok(s.fork(p, "child"));
      anon(child, 0, 2);
      expect(has(at(child, 0).flags, VM_MERGEABLE)).toBe(true);
    });
  });
});
