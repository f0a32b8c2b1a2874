/**
 * mprotect(2) through the facade (bindings/reference/mprotect.ts): the errno
 * of each bad argument (spec §4) and the VM_ACCOUNT rules (spec §4.3.2,
 * §4.2.1). On both engines (eachEngine, test/support/engines.ts); page
 * numbers are relative to the report window (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { VM_ACCOUNT, VM_NORESERVE } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, fails, has, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("mprotect errors", () => {
    it("unaligned start is EINVAL; len 0 is a no-op", () => {
      const { p } = sim();
      anon(p, 0, 4);
      fails(p.mprotect(a(0) + 1, P, "r--"), "EINVAL");
      expect(ok(p.mprotect(a(0), 0, "r--"))).toBe(0);
      expect(at(p, 0).perms).toBe("rw-p");
    });

    it("unknown PROT bits are EINVAL", () => {
      const { p } = sim();
      anon(p, 0, 4);
      fails(p.mprotect(a(0), P, 0x100), "EINVAL");
    });

    it("a hole is ENOMEM, with the VMAs before it changed (M6)", () => {
      const { p } = sim();
      anon(p, 1, 3);
      anon(p, 5, 3);
      fails(p.mprotect(a(1), 7 * P, "r--"), "ENOMEM");
      expect(layout(p)).toEqual([[1, 4], [5, 8]]);
      expect(at(p, 1).perms).toBe("r--p");
      expect(at(p, 5).perms).toBe("rw-p");
    });

    it("a range that starts in a hole, or runs past the last VMA, is ENOMEM", () => {
      const { p } = sim();
      anon(p, 1, 3);
      const before = p.vmas();
      fails(p.mprotect(a(0), 4 * P, "r--"), "ENOMEM");
      expect(p.vmas()).toEqual(before);
      fails(p.mprotect(a(1), 5 * P, "r--"), "ENOMEM");
      expect(at(p, 1).perms).toBe("r--p"); // changed before the end was found
    });

    // EACCES (PROT_WRITE on a shared mapping of a read-only file, PROT_EXEC on a noexec
    // mount) is not expressible: the facade opens files read-write and models no mounts.
  });

  describe("VM_ACCOUNT (spec §4.3.2, §4.2.1)", () => {
    it("mmap: only private writable mappings without NORESERVE are accounted", () => {
      const { sim: s, p } = sim();
      const f = s.createFile("f", 64 * P);
      anon(p, 0, 1);
      anon(p, 2, 1, "r--");
      ok(p.mmap(a(4), P, "rw-", "shared|anon|fixed"));
      anon(p, 6, 1, "rw-", "|noreserve");
      ok(p.mmap(a(8), P, "rw-", "private|fixed", f, 0));
      ok(p.mmap(a(10), P, "rw-", "shared|fixed", f, 0));
      const acc = [0, 2, 4, 6, 8, 10].map((n) => has(at(p, n).flags, VM_ACCOUNT));
      expect(acc).toEqual([true, false, false, false, true, false]);
      expect(has(at(p, 6).flags, VM_NORESERVE)).toBe(true);
      expect(at(p, 0).vmflags).toBe("rd wr mr mw me ac");
    });

    it("accounting differences keep neighbours apart (N4, N5, N6)", () => {
      const { p } = sim();
      anon(p, 10, 2);
      anon(p, 12, 2, "r--");
      anon(p, 20, 2);
      anon(p, 22, 2, "rw-", "|noreserve");
      anon(p, 30, 2, "r--");
      anon(p, 32, 2, "r--", "|noreserve");
      expect(layout(p)).toEqual([[10, 12], [12, 14], [20, 22], [22, 24], [30, 32], [32, 34]]);
    });

    it("mprotect: an unfaulted anonymous VMA loses VM_ACCOUNT when made read-only and regains it (M1)", () => {
      const { p } = sim();
      anon(p, 10, 10);
      ok(p.mprotect(a(13), 2 * P, "r--"));
      expect(layout(p)).toEqual([[10, 13], [13, 15], [15, 20]]);
      expect(has(at(p, 13).flags, VM_ACCOUNT)).toBe(false);
      ok(p.mprotect(a(13), 2 * P, "rw-"));
      expect(layout(p)).toEqual([[10, 20]]);
      expect(has(at(p, 10).flags, VM_ACCOUNT)).toBe(true);
    });

    it("mprotect: a read-only private mapping made writable gains VM_ACCOUNT, unless NORESERVE or shared", () => {
      const { p } = sim();
      anon(p, 0, 2, "r--");
      ok(p.mprotect(a(0), 2 * P, "rw-"));
      expect(has(at(p, 0).flags, VM_ACCOUNT)).toBe(true);
      anon(p, 2, 2); // RW, accounted: merges
      expect(layout(p)).toEqual([[0, 4]]);
      anon(p, 10, 2, "r--", "|noreserve");
      ok(p.mprotect(a(10), 2 * P, "rw-"));
      expect(has(at(p, 10).flags, VM_ACCOUNT)).toBe(false);
      ok(p.mmap(a(20), 2 * P, "r--", "shared|anon|fixed"));
      ok(p.mprotect(a(20), 2 * P, "rw-"));
      expect(has(at(p, 20).flags, VM_ACCOUNT)).toBe(false);
    });

    it("mprotect: a faulted anonymous VMA keeps VM_ACCOUNT when made read-only, so it does not merge with an unfaulted read-only neighbour (M4)", () => {
      const { p } = sim();
      anon(p, 1, 5);
      ok(p.write(a(1), 5 * P));
      anon(p, 6, 2, "r--");
      ok(p.mprotect(a(1), 5 * P, "r--"));
      expect(has(at(p, 1).flags, VM_ACCOUNT)).toBe(true);
      expect(has(at(p, 6).flags, VM_ACCOUNT)).toBe(false);
      expect(layout(p)).toEqual([[1, 6], [6, 8]]);
    });

    it("mprotect: a private file mapping keeps VM_ACCOUNT when made read-only and re-merges (X3)", () => {
      const { sim: s, p } = sim();
      const f = s.createFile("f", 64 * P);
      ok(p.mmap(a(1), 8 * P, "rw-", "private|fixed", f, 8 * P));
      ok(p.mprotect(a(3), 2 * P, "r--"));
      expect(layout(p)).toEqual([[1, 3], [3, 5], [5, 9]]);
      expect(has(at(p, 3).flags, VM_ACCOUNT)).toBe(true);
      expect(at(p, 3).pgoff).toBe(10);
      ok(p.mprotect(a(3), 2 * P, "rw-"));
      expect(layout(p)).toEqual([[1, 9]]);
      expect(at(p, 1).pgoff).toBe(8);
    });
  });
});
