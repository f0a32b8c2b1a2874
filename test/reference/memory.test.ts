/**
 * Faults through the facade (bindings/reference/memory.ts): write and read
 * faults and anon_vma creation (spec §5.1). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { eachEngine } from "../support/engines.js";
import { a, anon, at, fails, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("faults: write/read and anon_vma (spec §5.1)", () => {
    it("write stops with EFAULT at the first unwritable page; the VMAs before it are faulted", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "r--");
      anon(p, 4, 2);
      fails(p.write(a(0), 6 * P), "EFAULT");
      const [x, y, z] = p.vmas();
      expect(x!.anonVma).not.toBe(0);
      expect(y!.anonVma).toBe(0);
      expect(z!.anonVma).toBe(0);
    });

    it("write into a hole is EFAULT after writing the pages before it", () => {
      const { p } = sim();
      anon(p, 0, 2);
      fails(p.write(a(0), 3 * P), "EFAULT");
      expect(at(p, 0).anonVma).not.toBe(0);
      fails(p.write(a(5), P), "EFAULT");
    });

    it("write to PROT_NONE is EFAULT and faults nothing", () => {
      const { p } = sim();
      anon(p, 0, 2, "---");
      fails(p.write(a(0), P), "EFAULT");
      expect(at(p, 0).anonVma).toBe(0);
    });

    it("a read fault never creates an anon_vma; reading unmapped or PROT_NONE memory is EFAULT", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "---");
      ok(p.read(a(0), 2 * P));
      expect(at(p, 0).anonVma).toBe(0);
      fails(p.read(a(0), 3 * P), "EFAULT");
      fails(p.read(a(10), P), "EFAULT");
      // Still unfaulted: a new neighbour merges.
      ok(p.munmap(a(2), 2 * P));
      anon(p, 2, 2);
      expect(layout(p)).toEqual([[0, 4]]);
    });

    it("writes to shared memory create no anon_vma", () => {
      const { p } = sim();
      ok(p.mmap(a(0), 2 * P, "rw-", "shared|anon|fixed"));
      ok(p.write(a(0), 2 * P));
      expect(at(p, 0).anonVma).toBe(0);
    });

    it("a private file mapping: pages beyond EOF are EFAULT, the ones before are written (COW → anon_vma)", () => {
      const { sim: s, p } = sim();
      const f = s.createFile("f", 2 * P);
      ok(p.mmap(a(0), 4 * P, "rw-", "private|fixed", f));
      fails(p.write(a(0), 4 * P), "EFAULT");
      expect(at(p, 0).anonVma).not.toBe(0);
      fails(p.read(a(2), P), "EFAULT");
    });

    it("MAP_POPULATE of a writable private mapping creates the anon_vma; of a read-only one it does not", () => {
      const { p } = sim();
      anon(p, 0, 2, "rw-", "|populate");
      anon(p, 4, 2, "r--", "|populate");
      expect(at(p, 0).anonVma).not.toBe(0);
      expect(at(p, 4).anonVma).toBe(0);
    });

    it("a large write faults every page in and gives the VMA its anon_vma", () => {
      const { p } = sim();
      anon(p, 0, 2 ** 16, "rw-", "|noreserve");
      ok(p.write(a(0), 2 ** 16 * P));
      expect(at(p, 0).anonVma).not.toBe(0);
    });

    it("anon_vma reuse: the next VMA is tried first, then prev", () => {
      const { p } = sim();
      anon(p, 0, 2); // P  rw-
      anon(p, 2, 2, "rwx"); // X differs from both only in access bits
      anon(p, 4, 2); // N  rw-
      expect(layout(p)).toEqual([[0, 2], [2, 4], [4, 6]]);
      ok(p.write(a(0), P));
      ok(p.write(a(4), P));
      const pAv = at(p, 0).anonVma;
      const nAv = at(p, 4).anonVma;
      expect(pAv).not.toBe(0);
      expect(nAv).not.toBe(pAv);
      ok(p.write(a(2), P));
      expect(at(p, 2).anonVma).toBe(nAv);
      // So X joins N, not P, once its flags match.
      ok(p.mprotect(a(2), 2 * P, "rw-"));
      expect(layout(p)).toEqual([[0, 2], [2, 6]]);
    });

    it("anon_vma reuse from prev lets VMAs that differed in access bits merge later", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "rwx");
      ok(p.write(a(0), 4 * P));
      expect(at(p, 2).anonVma).toBe(at(p, 0).anonVma);
      ok(p.mprotect(a(2), 2 * P, "rw-"));
      expect(layout(p)).toEqual([[0, 4]]);
    });

    it("no reuse when a non-access flag differs at fault time: they never merge afterwards", () => {
      const { p } = sim();
      anon(p, 0, 2);
      anon(p, 2, 2, "rwx");
      ok(p.madvise(a(2), 2 * P, "dontfork"));
      ok(p.write(a(0), 4 * P));
      expect(at(p, 2).anonVma).not.toBe(at(p, 0).anonVma);
      ok(p.madvise(a(2), 2 * P, "dofork"));
      ok(p.mprotect(a(2), 2 * P, "rw-"));
      expect(layout(p)).toEqual([[0, 2], [2, 4]]);
    });

    it("two independently written VMAs never merge; an unfaulted one between them joins the left one (N8)", () => {
      const { p } = sim();
      anon(p, 10, 2);
      ok(p.write(a(10), 2 * P));
      anon(p, 14, 2);
      ok(p.write(a(14), 2 * P));
      anon(p, 12, 2);
      expect(layout(p)).toEqual([[10, 14], [14, 16]]);
    });

    it("a refilled hole in a faulted VMA merges back with both halves (N9)", () => {
      const { p } = sim();
      anon(p, 10, 6);
      ok(p.write(a(10), 6 * P));
      ok(p.munmap(a(12), 2 * P));
      anon(p, 12, 2);
      expect(layout(p)).toEqual([[10, 16]]);
    });
  });
});
