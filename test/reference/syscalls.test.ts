/**
 * The syscalls through the public facade (Simulation / AddressSpace), on
 * both engines (eachEngine, test/support/engines.ts): errno
 * for bad arguments (spec §4), the VM_ACCOUNT rules, faults and anon_vma
 * creation (§5.1), fork (§5.3), PR_SET_MEMORY_MERGE by version (§6) and the
 * rule that a failed call changes nothing where the kernel changes nothing.
 * Page numbers are relative to the report window; expectations come from
 * the spec's rules and measured results (§7.2, §7.3).
 */
import { describe, expect, it } from "vitest";
import { type AddressSpace, Simulation, type SysResult } from "../../bindings/facade.js";
import { eachEngine, engine } from "../support/engines.js";
import {
  EFAULT, EINVAL, VM_ACCOUNT, VM_DONTCOPY, VM_LOCKED, VM_MERGEABLE, VM_NORESERVE, VM_WIPEONFORK,
} from "../../bindings/kernel/facts.js";

const W = 0x100000000000;
const P = 4096;
/** The byte address of window page n. */
const a = (n: number): number => W + n * P;

function sim(kernel?: string): { sim: Simulation; p: AddressSpace } {
  const s = new Simulation(kernel === undefined ? { engine: engine() } : { engine: engine(), kernel });
  return { sim: s, p: s.process("main") };
}

function ok<T>(r: SysResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.errno}`);
  return r.value;
}

function fails(r: SysResult<unknown>, errno: string): void {
  expect(r.ok ? `ok (${String(r.value)})` : r.errno).toBe(errno);
}

/** mmap anonymous private memory at window page `start` (MAP_FIXED). */
function anon(p: AddressSpace, start: number, pages: number, prot = "rw-", extra = ""): void {
  ok(p.mmap(a(start), pages * P, prot, `private|anon|fixed${extra}`));
}

/** The window's VMAs as [startPage, endPage) pairs. */
function layout(p: AddressSpace): [number, number][] {
  return p.vmas().map((v) => [(v.start - W) / P, (v.end - W) / P]);
}

/** The VMA containing window page n. */
function at(p: AddressSpace, n: number) {
  const v = p.vmas().find((x) => x.start <= a(n) && a(n) < x.end);
  if (v === undefined) throw new Error(`no VMA at page ${n}`);
  return v;
}

const has = (flags: number, bit: number): boolean => (flags & bit) !== 0;

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

  describe("PR_SET_MEMORY_MERGE (spec §6)", () => {
    function seed(kernel: string): AddressSpace {
      const { p } = sim(kernel);
      ok(p.setMemoryMerge(1));
      anon(p, 0, 8);
      anon(p, 8, 8);
      return p;
    }

    it("the seed case: two adjacent 8-page anonymous mmaps are 1 VMA on 6.18 and 2 on 6.16, all mg", () => {
      const p18 = seed("6.18");
      expect(layout(p18)).toEqual([[0, 16]]);
      const p16 = seed("6.16");
      expect(layout(p16)).toEqual([[0, 8], [8, 16]]);
      for (const v of [...p18.vmas(), ...p16.vmas()]) expect(v.vmflags).toBe("rd wr mr mw me ac mg");
    });

    it("6.17 already has the early KSM flag; ksmEarly=off on 6.18 brings the 6.16 behaviour back", () => {
      expect(layout(seed("6.17"))).toEqual([[0, 16]]);
      const s = new Simulation({ engine: engine(), kernel: "6.18", set: ["ksmEarly=off"] });
      const p = s.process("main");
      ok(p.setMemoryMerge(1));
      anon(p, 0, 8);
      anon(p, 8, 8);
      expect(layout(p)).toEqual([[0, 8], [8, 16]]);
    });

    it("ksm_merge selftest: merges each time on 6.17+, not on 6.16", () => {
      for (const [kernel, merges] of [["6.18", true], ["6.16", false]] as const) {
        const { p } = sim(kernel);
        anon(p, 1, 1);
        anon(p, 2, 1);
        expect(layout(p)).toEqual([[1, 3]]);
        ok(p.munmap(a(2), P));
        ok(p.setMemoryMerge(1));
        anon(p, 2, 1);
        expect(layout(p), kernel).toEqual(merges ? [[1, 3]] : [[1, 2], [2, 3]]);
        ok(p.munmap(a(1), 2 * P));
        anon(p, 1, 1);
        anon(p, 2, 1);
        expect(layout(p), kernel).toEqual(merges ? [[1, 3]] : [[1, 2], [2, 3]]);
      }
    });

    it("enabling marks existing VMAs without splitting or merging; shared memory is left alone (K1, K3, t19)", () => {
      const { p } = sim();
      anon(p, 1, 4);
      ok(p.madvise(a(3), 2 * P, "mergeable"));
      expect(layout(p)).toEqual([[1, 3], [3, 5]]);
      ok(p.mmap(a(10), 2 * P, "rw-", "shared|anon|fixed"));
      ok(p.setMemoryMerge(1));
      expect(layout(p)).toEqual([[1, 3], [3, 5], [10, 12]]);
      expect(p.vmas().map((v) => has(v.flags, VM_MERGEABLE))).toEqual([true, true, false]);
      ok(p.mmap(a(12), 2 * P, "rw-", "shared|anon|fixed"));
      expect(has(at(p, 12).flags, VM_MERGEABLE)).toBe(false);
    });

    it("disabling clears VM_MERGEABLE everywhere, MADV_MERGEABLE ones included, again without merging", () => {
      const { p } = sim();
      anon(p, 1, 4);
      ok(p.madvise(a(3), 2 * P, "mergeable"));
      ok(p.setMemoryMerge(1));
      ok(p.setMemoryMerge(0));
      expect(p.vmas().map((v) => has(v.flags, VM_MERGEABLE))).toEqual([false, false]);
      expect(layout(p)).toEqual([[1, 3], [3, 5]]);
      anon(p, 5, 2);
      expect(has(at(p, 5).flags, VM_MERGEABLE)).toBe(false);
    });
  });

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
});
