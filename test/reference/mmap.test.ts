/**
 * mmap(2) and munmap(2) through the facade (bindings/reference/mmap.ts): the
 * errno of each bad argument (spec §4). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, fails, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("mmap errors", () => {
    it("len 0 is EINVAL", () => {
      const { p } = sim();
      fails(p.mmap(a(0), 0, "rw-", "private|anon|fixed"), "EINVAL");
      fails(p.mmap(0, 0, "rw-", "private|anon"), "EINVAL");
    });

    it("an offset that is not page aligned is EINVAL (also for anonymous memory)", () => {
      const { sim: s, p } = sim();
      const f = s.createFile("f", 16 * P);
      fails(p.mmap(a(0), P, "rw-", "private|fixed", f, 100), "EINVAL");
      fails(p.mmap(a(0), P, "rw-", "private|anon|fixed", null, 100), "EINVAL");
      ok(p.mmap(a(0), P, "rw-", "private|fixed", f, P));
    });

    it("MAP_FIXED_NOREPLACE over a mapping is EEXIST and leaves the VMA list identical; into a hole it maps", () => {
      const { p } = sim();
      anon(p, 0, 4);
      anon(p, 6, 2, "r--");
      const before = p.vmas();
      fails(p.mmap(a(2), 2 * P, "rw-", "private|anon|fixed_noreplace"), "EEXIST");
      fails(p.mmap(a(5), 2 * P, "r--", "private|anon|fixed_noreplace"), "EEXIST"); // overlaps only at its end
      expect(p.vmas()).toEqual(before);
      expect(p.mmap(a(4), 2 * P, "rw-", "private|anon|fixed_noreplace")).toEqual({ ok: true, value: a(4) });
      expect(layout(p)).toEqual([[0, 6], [6, 8]]);
    });

    it("a file mapping without a file is EBADF", () => {
      const { p } = sim();
      fails(p.mmap(a(0), P, "rw-", "private|fixed"), "EBADF");
      fails(p.mmap(a(0), P, "rw-", "shared|fixed"), "EBADF");
      expect(p.vmas()).toEqual([]);
    });

    it("MAP_SHARED_VALIDATE (private|shared) is EINVAL for anonymous memory but valid for a file", () => {
      const { sim: s, p } = sim();
      fails(p.mmap(a(0), P, "rw-", "private|shared|anon|fixed"), "EINVAL");
      expect(p.vmas()).toEqual([]);
      const f = s.createFile("f", P);
      ok(p.mmap(a(0), P, "rw-", "private|shared|fixed", f));
      expect(at(p, 0).perms).toBe("rw-s");
    });

    it("a mapping type of neither private nor shared is EINVAL", () => {
      const { sim: s, p } = sim();
      fails(p.mmap(a(0), P, "rw-", "anon|fixed"), "EINVAL");
      fails(p.mmap(a(0), P, "rw-", "fixed", s.createFile("f", P)), "EINVAL");
    });

    it("MAP_FIXED at an address that is not page aligned is EINVAL", () => {
      const { p } = sim();
      fails(p.mmap(a(0) + 1, P, "rw-", "private|anon|fixed"), "EINVAL");
    });

    it("map_count > max_map_count is ENOMEM: mmap may reach max + 1 VMAs, even a merging mmap then fails", () => {
      const { sim: s, p } = sim();
      s.maxMapCount = 2;
      anon(p, 0, 1);
      anon(p, 2, 1);
      anon(p, 4, 1); // map_count 2 is not > 2
      expect(p.mapCount).toBe(3);
      fails(p.mmap(a(6), P, "rw-", "private|anon|fixed"), "ENOMEM");
      fails(p.mmap(a(1), P, "rw-", "private|anon|fixed"), "ENOMEM"); // would merge both neighbours
      expect(layout(p)).toEqual([[0, 1], [2, 3], [4, 5]]);
    });

    it("mmap_region_basic (tools/testing/vma): next-merge takes the proposal's pgoff; 2 VMAs", () => {
      const { p } = sim();
      for (const addr of [0x300000, 0x250000, 0x303000, 0x24d000]) ok(p.mmap(addr, 0x3000, "rw-", "private|anon|fixed"));
      const vs = p.vmas(0, 0x1000000);
      expect(vs.map((v) => [v.start, v.end, v.pgoff])).toEqual([[0x24d000, 0x253000, 0x24d], [0x300000, 0x306000, 0x300]]);
      expect(p.mapCount).toBe(2);
    });

    it("hint-less anonymous mmaps stack downwards and merge (N12)", () => {
      const { p } = sim();
      const r1 = ok(p.mmap(0, 2 * P, "rw-", "private|anon"));
      const r2 = ok(p.mmap(0, 2 * P, "rw-", "private|anon"));
      expect(r2).toBe(r1 - 2 * P);
      const all = p.vmas(0, 2 ** 47);
      expect(all.map((v) => [v.start, v.end])).toEqual([[r2, r1 + 2 * P]]);
    });
  });

  describe("munmap errors", () => {
    it("unaligned address or zero length is EINVAL; an empty range is fine", () => {
      const { p } = sim();
      anon(p, 0, 4);
      fails(p.munmap(a(0) + 1, P), "EINVAL");
      fails(p.munmap(a(0), 0), "EINVAL");
      expect(ok(p.munmap(a(10), P))).toBe(0);
      expect(layout(p)).toEqual([[0, 4]]);
    });

    it("at the map_count limit a three-way split is ENOMEM (nothing changes); splits at one end are not limited", () => {
      const { sim: s, p } = sim();
      anon(p, 0, 10);
      s.maxMapCount = 1;
      const before = p.vmas();
      fails(p.munmap(a(3), 2 * P), "ENOMEM");
      expect(p.vmas()).toEqual(before);
      ok(p.munmap(a(0), P)); // head: split at the end only
      ok(p.munmap(a(9), P)); // tail: a two-way split at the start
      expect(layout(p)).toEqual([[1, 9]]);
    });
  });
});
