/**
 * The Engine contract (bindings/reference/engine.ts): a failed call changes
 * nothing where the kernel changes nothing. On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { type SysResult } from "../../bindings/facade.js";
import { EFAULT, EINVAL } from "../../bindings/kernel/facts.js";
import { eachEngine } from "../support/engines.js";
import { a, anon, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("failed calls change nothing where the kernel changes nothing", () => {
    it("a battery of refused calls leaves vmas() identical", () => {
      const { sim: s, p } = sim();
      const f = s.createFile("f", 8 * P);
      anon(p, 0, 4);
      ok(p.write(a(0), P));
      anon(p, 6, 2, "r--");
      ok(p.mmap(a(10), 2 * P, "rw-", "shared|anon|fixed"));
      ok(p.mmap(a(14), 2 * P, "rw-", "private|fixed", f, 0));
      const before = p.vmas();
      const count = p.mapCount;
      const attempts: [string, SysResult, string][] = [
        ["mmap EEXIST", p.mmap(a(2), 6 * P, "rw-", "private|anon|fixed_noreplace"), "EEXIST"],
        ["mmap len 0", p.mmap(a(2), 0, "rw-", "private|anon|fixed"), "EINVAL"],
        ["mmap EBADF", p.mmap(a(2), P, "rw-", "private|fixed"), "EBADF"],
        ["mmap offset", p.mmap(a(2), P, "rw-", "private|fixed", f, 1), "EINVAL"],
        ["mmap shared_validate anon", p.mmap(a(2), P, "rw-", "private|shared|anon|fixed"), "EINVAL"],
        ["munmap unaligned", p.munmap(a(1) + 8, P), "EINVAL"],
        ["mprotect unaligned", p.mprotect(a(0) + 8, P, "r--"), "EINVAL"],
        ["mprotect start in hole", p.mprotect(a(4), 4 * P, "r--"), "ENOMEM"],
        ["mremap bad addr", p.mremap(a(0) + 8, P, 2 * P), "EINVAL"],
        ["mremap no vma", p.mremap(a(4), P, 2 * P, { maymove: true }), "EFAULT"],
        ["mremap overlap", p.mremap(a(0), 4 * P, 4 * P, { fixed: a(1) }), "EINVAL"],
        ["mremap grow blocked", p.mremap(a(6), 2 * P, 6 * P), "ENOMEM"],
        ["madvise bad advice", p.madvise(a(0), P, 99), "EINVAL"],
        ["madvise wipeonfork shared", p.madvise(a(10), 2 * P, "wipeonfork"), "EINVAL"],
        ["madvise wipeonfork file", p.madvise(a(14), 2 * P, "wipeonfork"), "EINVAL"],
        ["madvise hole", p.madvise(a(4), 2 * P, "dontfork"), "ENOMEM"],
        ["mlock hole", p.mlock(a(4), 2 * P), "ENOMEM"],
        ["write ro", p.write(a(6), P), "EFAULT"],
        ["read hole", p.read(a(4), P), "EFAULT"],
      ];
      for (const [what, r, errno] of attempts) {
        expect(r.ok ? "ok" : r.errno, what).toBe(errno);
        expect(p.vmas(), what).toEqual(before);
      }
      expect(p.mapCount).toBe(count);
      expect(s.engine.mremap(p.pid, a(0), P, P, 64, 0)).toBe(-EINVAL);
      expect(s.engine.readPages(p.pid, a(8), P)).toBe(-EFAULT);
      expect(p.vmas()).toEqual(before);
    });

    it("MAP_FIXED over part of a VMA replaces it; mapping the original attributes again re-merges (N10)", () => {
      const { p } = sim();
      anon(p, 10, 6);
      anon(p, 12, 2, "r--");
      expect(layout(p)).toEqual([[10, 12], [12, 14], [14, 16]]);
      anon(p, 12, 2);
      expect(layout(p)).toEqual([[10, 16]]);
    });
  });

  describe("batches", () => {
    /** A process and a batch holding five calls: two mappings, a split, a munmap of length 0 (EINVAL), a mprotect of a hole (ENOMEM). */
    function queued() {
      const { sim: s, p } = sim();
      const b = s.batch();
      b.mmap(p, a(0), 4 * P, "rw-", "private|anon|fixed");
      b.mmap(p, a(8), 2 * P, "r--", "private|anon|fixed");
      b.mprotect(p, a(1), P, "r--");
      b.munmap(p, a(0), 0);
      b.mprotect(p, a(5), P, "r--");
      return { p, b };
    }

    it("runRaw(into) puts the results in the buffer given, as runRaw() returns them", () => {
      const one = queued();
      const want = one.b.runRaw();
      expect(want[3]).toBe(-EINVAL);
      const two = queued();
      const into = new Float64Array(8).fill(7);
      const got = two.b.runRaw(into);
      expect(got.buffer).toBe(into.buffer);
      expect(Array.from(got)).toEqual(Array.from(want));
      expect(Array.from(into.subarray(5))).toEqual([7, 7, 7]);
      expect(two.b.length).toBe(0);
      expect(two.p.vmas()).toEqual(one.p.vmas());
    });

    it("too short a buffer is a RangeError before any call runs: the batch keeps its calls", () => {
      const { p, b } = queued();
      expect(() => b.runRaw(new Float64Array(4))).toThrow(RangeError);
      expect(b.length).toBe(5);
      expect(p.mapCount).toBe(0);
      expect(b.runRaw(new Float64Array(5))[2]).toBe(0);
      expect(p.mapCount).toBe(4);
    });
  });
});
