/**
 * Unit tests of the reference merge engine (bindings/reference/vma.ts), one
 * `it` per rule, on hand-made Mm/Vma/File/AnonVma objects, in the style of the
 * kernel's tools/testing/vma (spec §7.1). Addresses are page numbers: the
 * kernel test's 0x3000 is page 3 here. Expected values come from the spec
 * (§2–§3, §4.1, §7.1), not from running the engine.
 */
import { describe, expect, it } from "vitest";
import { FileKind } from "../../bindings/engine.js";
import {
  ENOMEM, VM_ACCOUNT, VM_DONTEXPAND, VM_IO, VM_MAYBE_GUARD, VM_MAYREAD, VM_MAYWRITE, VM_MIXEDMAP, VM_PFNMAP, VM_READ,
  VM_SEQ_READ, VM_SPECIAL, VM_WRITE,
} from "../../bindings/kernel/facts.js";
import { resolveKernel } from "../../bindings/kernel/versions.js";
import { Kernel } from "../../bindings/reference/kernel.js";
import { AnonVma, File, Mm, Vma } from "../../bindings/reference/mm_types.js";
import {
  __split_vma, dup_anon_vma, split_vma, type VmaMergeStruct, vma_is_fork_child, vma_merge_existing_range,
  vma_merge_new_range, vma_modify_flags, vmgNew,
} from "../../bindings/reference/vma.js";

/** The tools/testing/vma default flags: READ|WRITE|MAYREAD|MAYWRITE. */
const F = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE;
/** "New" flags for existing-range changes (a madvise(SEQUENTIAL)-like change). */
const NF = F | VM_SEQ_READ;

interface Ctx {
  k: Kernel;
  mm: Mm;
}

function setup(overrides: readonly string[] = [], version = "6.18"): Ctx {
  const k = new Kernel(resolveKernel(version, overrides));
  const mm = new Mm(1);
  k.mms.set(1, mm);
  return { k, mm };
}

interface VmaOpts {
  flags?: number;
  file?: File | null;
  anon?: AnonVma | null;
  /** anon_vma chain length; defaults to 1 with an anon_vma, 0 without. */
  chain?: number;
}

/** alloc_and_link_vma(): a VMA [start, end) with pgoff, linked into mm. */
function link(mm: Mm, start: number, end: number, pgoff: number, o: VmaOpts = {}): Vma {
  const anon = o.anon ?? null;
  const v = new Vma(start, end, pgoff, o.flags ?? F, o.file ?? null, anon, o.chain ?? (anon === null ? 0 : 1));
  mm.tree.insert(v);
  return v;
}

interface RangeOpts {
  flags?: number;
  file?: File | null;
  anon?: AnonVma | null;
  copiedFrom?: Vma | null;
  justExpand?: boolean;
  /** Override the neighbours found in the tree. */
  prev?: Vma | null;
  next?: Vma | null;
}

/** The merge_new() helper: prev/next from the tree around the range, then vma_merge_new_range(). */
function mergeNew(c: Ctx, start: number, end: number, pgoff: number, o: RangeOpts = {}): Vma | null {
  const vmg = vmgNew(c.k, c.mm, start, end, pgoff, o.flags ?? F, o.file ?? null);
  vmg.prev = o.prev !== undefined ? o.prev : c.mm.tree.findPrev(start);
  vmg.next = o.next !== undefined ? o.next : c.mm.tree.find(start);
  vmg.anonVma = o.anon ?? null;
  vmg.copiedFrom = o.copiedFrom ?? null;
  vmg.justExpand = o.justExpand ?? false;
  return vma_merge_new_range(vmg);
}

/** The merge_existing() helper: [start, end) of middle gets flags; prev as the caller passes it. */
function mergeExisting(c: Ctx, prev: Vma | null, middle: Vma, start: number, end: number, flags: number): Vma | null {
  const vmg: VmaMergeStruct = {
    k: c.k, mm: c.mm, prev, middle, next: null, start, end, pgoff: middle.pgoff + (start - middle.start), flags,
    file: middle.file, anonVma: middle.anonVma, copiedFrom: null, justExpand: false,
  };
  return vma_merge_existing_range(vmg);
}

/** The tree as [start, end, pgoff] triples. */
function layout(mm: Mm): [number, number, number][] {
  return mm.tree.all().map((v) => [v.start, v.end, v.pgoff]);
}

function inTree(mm: Mm, v: Vma): boolean {
  return mm.tree.all().includes(v);
}

const dummy = new AnonVma(1000);

describe("tools/testing/vma style: merge engine", () => {
  it("simple_merge: a new range between two VMAs joins them; the left one survives", () => {
    const c = setup();
    const left = link(c.mm, 0, 1, 0);
    const right = link(c.mm, 2, 3, 2);
    const r = mergeNew(c, 1, 2, 1);
    expect(r).toBe(left);
    expect([left.start, left.end, left.pgoff, left.flags]).toEqual([0, 3, 0, F]);
    expect(inTree(c.mm, right)).toBe(false);
    expect(c.mm.mapCount).toBe(1);
  });

  it("simple_modify: vma_modify_flags splits even for identical flags; the original object holds the range", () => {
    const c = setup();
    const v = link(c.mm, 0, 3, 0);
    const r = vma_modify_flags(c.k, c.mm, v, v, 1, 2, F);
    expect(r).toBe(v);
    expect([v.start, v.end, v.pgoff]).toEqual([1, 2, 1]);
    expect(layout(c.mm)).toEqual([[0, 1, 0], [1, 2, 1], [2, 3, 2]]);
    expect(c.mm.mapCount).toBe(3);
  });

  it("merge_new: the seven steps of tools/testing/vma (no close hooks)", () => {
    const c = setup();
    const a = link(c.mm, 0, 2, 0);
    const b = link(c.mm, 3, 4, 3);
    const cc = link(c.mm, 0xb, 0xc, 0xb);

    // (1) not adjacent to anything: no merge; the caller creates D.
    expect(mergeNew(c, 7, 9, 7)).toBeNull();
    const d = link(c.mm, 7, 9, 7);
    expect(c.mm.mapCount).toBe(4);

    // (2) fills the hole between A and B (B faulted): A absorbs the range and B, adopting B's anon_vma.
    b.anonVma = dummy;
    b.anonChain = 1;
    expect(mergeNew(c, 2, 3, 2)).toBe(a);
    expect([a.start, a.end, a.pgoff, a.anonVma]).toEqual([0, 4, 0, dummy]);
    expect(inTree(c.mm, b)).toBe(false);
    expect(c.mm.mapCount).toBe(3);

    // (3) extends A to the right.
    expect(mergeNew(c, 4, 5, 4)).toBe(a);
    expect([a.start, a.end, a.pgoff]).toEqual([0, 5, 0]);
    expect(c.mm.mapCount).toBe(3);

    // (4) merges at the front of D (next-merge): D survives and takes the proposal's pgoff.
    d.anonVma = dummy;
    d.anonChain = 1;
    expect(mergeNew(c, 6, 7, 6)).toBe(d);
    expect([d.start, d.end, d.pgoff]).toEqual([6, 9, 6]);
    expect(c.mm.mapCount).toBe(3);

    // (5) fills the hole between A and D: A survives, D is deleted.
    expect(mergeNew(c, 5, 6, 5)).toBe(a);
    expect([a.start, a.end, a.pgoff]).toEqual([0, 9, 0]);
    expect(inTree(c.mm, d)).toBe(false);
    expect(c.mm.mapCount).toBe(2);

    // (6) next-merge into C.
    cc.anonVma = dummy;
    cc.anonChain = 1;
    expect(mergeNew(c, 0xa, 0xb, 0xa)).toBe(cc);
    expect([cc.start, cc.end, cc.pgoff]).toEqual([0xa, 0xc, 0xa]);
    expect(c.mm.mapCount).toBe(2);

    // (7) the last hole: one VMA is left, with the dummy anon_vma.
    expect(mergeNew(c, 9, 0xa, 9)).toBe(a);
    expect(layout(c.mm)).toEqual([[0, 0xc, 0]]);
    expect(a.anonVma).toBe(dummy);
    expect(c.mm.mapCount).toBe(1);
  });

  describe("merge_existing", () => {
    it("(a) right side, partial: next grows down over the range, middle keeps the rest", () => {
      const c = setup();
      const v = link(c.mm, 2, 6, 2, { anon: dummy });
      const n = link(c.mm, 6, 9, 6, { flags: NF });
      const r = mergeExisting(c, v, v, 3, 6, NF);
      expect(r).toBe(n);
      expect([n.start, n.end, n.pgoff, n.anonVma]).toEqual([3, 9, 3, dummy]);
      expect([v.start, v.end, v.pgoff, v.flags]).toEqual([2, 3, 2, F]);
      expect(c.mm.mapCount).toBe(2);
    });

    it("(b) right side, whole VMA: next absorbs middle and takes its pgoff", () => {
      const c = setup();
      const v = link(c.mm, 2, 6, 2);
      const n = link(c.mm, 6, 9, 6, { flags: NF });
      const r = mergeExisting(c, null, v, 2, 6, NF);
      expect(r).toBe(n);
      expect([n.start, n.end, n.pgoff]).toEqual([2, 9, 2]);
      expect(inTree(c.mm, v)).toBe(false);
      expect(c.mm.mapCount).toBe(1);
    });

    it("(c) left side, partial: prev grows over the range, middle keeps the rest with a shifted pgoff", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 7, 3, { anon: dummy });
      const r = mergeExisting(c, p, v, 3, 6, NF);
      expect(r).toBe(p);
      expect([p.start, p.end, p.pgoff, p.anonVma]).toEqual([0, 6, 0, dummy]);
      expect([v.start, v.end, v.pgoff]).toEqual([6, 7, 6]);
      expect(c.mm.mapCount).toBe(2);
    });

    it("(d) left side, whole VMA: prev absorbs middle", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 7, 3, { anon: dummy });
      const r = mergeExisting(c, p, v, 3, 7, NF);
      expect(r).toBe(p);
      expect([p.start, p.end, p.pgoff, p.anonVma]).toEqual([0, 7, 0, dummy]);
      expect(inTree(c.mm, v)).toBe(false);
      expect(c.mm.mapCount).toBe(1);
    });

    it("(e) both sides: prev absorbs middle and next", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 7, 3, { anon: dummy });
      const n = link(c.mm, 7, 9, 7, { flags: NF });
      const r = mergeExisting(c, p, v, 3, 7, NF);
      expect(r).toBe(p);
      expect([p.start, p.end, p.pgoff, p.anonVma]).toEqual([0, 9, 0, dummy]);
      expect(inTree(c.mm, v)).toBe(false);
      expect(inTree(c.mm, n)).toBe(false);
      expect(c.mm.mapCount).toBe(1);
    });

    it("(f) ranges not touching an end of middle never merge", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 8, 3);
      link(c.mm, 8, 0xa, 8, { flags: NF });
      const before = layout(c.mm);
      for (const [s, e] of [[4, 5], [5, 6], [6, 7], [4, 7], [4, 6], [5, 6]] as const) {
        expect(mergeExisting(c, v, v, s, e, NF), `[${s},${e})`).toBeNull();
        // prev = the real prev makes no difference either.
        expect(mergeExisting(c, p, v, s, e, NF), `[${s},${e}) with prev`).toBeNull();
      }
      expect(layout(c.mm)).toEqual(before);
      expect(c.mm.mapCount).toBe(3);
    });
  });

  it("anon_vma_non_mergeable: prev and next with different anon_vmas degrade a both-sides merge to left-only", () => {
    const a1 = new AnonVma(1);
    const a2 = new AnonVma(2);
    // Existing range.
    {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF, anon: a1 });
      const v = link(c.mm, 3, 7, 3);
      const n = link(c.mm, 7, 9, 7, { flags: NF, anon: a2 });
      const r = mergeExisting(c, p, v, 3, 7, NF);
      expect(r).toBe(p);
      expect([p.start, p.end, p.pgoff, p.anonVma]).toEqual([0, 7, 0, a1]);
      expect([n.start, n.end, n.pgoff, n.anonVma]).toEqual([7, 9, 7, a2]);
      expect(inTree(c.mm, n)).toBe(true);
      expect(c.mm.mapCount).toBe(2);
    }
    // New range.
    {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { anon: a1 });
      const n = link(c.mm, 7, 9, 7, { anon: a2 });
      const r = mergeNew(c, 3, 7, 3);
      expect(r).toBe(p);
      expect([p.start, p.end, p.pgoff, p.anonVma]).toEqual([0, 7, 0, a1]);
      expect([n.start, n.end, n.anonVma]).toEqual([7, 9, a2]);
      expect(c.mm.mapCount).toBe(2);
    }
    // Control: with the same anon_vma on both sides the both-sides merge happens.
    {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { anon: a1 });
      link(c.mm, 7, 9, 7, { anon: a1 });
      expect(mergeNew(c, 3, 7, 3)).toBe(p);
      expect(layout(c.mm)).toEqual([[0, 9, 0]]);
    }
  });

  describe("dup_anon_vma", () => {
    it("dup_anon_vma(): a VMA without anon_vma takes src's (and its chain); one with an anon_vma keeps it", () => {
      const own = new AnonVma(7);
      const dst = new Vma(0, 3, 0, F, null);
      dup_anon_vma(dst, null);
      expect(dst.anonVma).toBeNull();
      dup_anon_vma(dst, new Vma(3, 5, 3, F, null));
      expect(dst.anonVma).toBeNull();
      dup_anon_vma(dst, new Vma(3, 5, 3, F, null, dummy, 2));
      expect([dst.anonVma, dst.anonChain]).toEqual([dummy, 2]);
      const has = new Vma(0, 3, 0, F, null, own, 1);
      dup_anon_vma(has, new Vma(3, 5, 3, F, null, dummy, 1));
      expect([has.anonVma, has.anonChain]).toEqual([own, 1]);
    });

    it("new range whose merge removes next: prev adopts next's anon_vma", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0);
      link(c.mm, 4, 6, 4, { anon: dummy });
      expect(mergeNew(c, 3, 4, 3)).toBe(p);
      expect([p.start, p.end, p.anonVma, p.anonChain]).toEqual([0, 6, dummy, 1]);
    });

    it("both sides, only next faulted: prev adopts next's anon_vma", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 5, 3);
      link(c.mm, 5, 8, 5, { flags: NF, anon: dummy });
      expect(mergeExisting(c, p, v, 3, 5, NF)).toBe(p);
      expect([p.start, p.end, p.anonVma]).toEqual([0, 8, dummy]);
      expect(c.mm.mapCount).toBe(1);
    });

    it("both sides, only middle faulted: prev adopts middle's anon_vma", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 5, 3, { anon: dummy });
      link(c.mm, 5, 8, 5, { flags: NF });
      expect(mergeExisting(c, p, v, 3, 5, NF)).toBe(p);
      expect([p.start, p.end, p.anonVma]).toEqual([0, 8, dummy]);
      expect(c.mm.mapCount).toBe(1);
    });

    it("left partial: prev adopts middle's anon_vma", () => {
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const v = link(c.mm, 3, 8, 3, { anon: dummy });
      expect(mergeExisting(c, p, v, 3, 5, NF)).toBe(p);
      expect([p.start, p.end, p.anonVma]).toEqual([0, 5, dummy]);
      expect([v.start, v.end, v.pgoff, v.anonVma]).toEqual([5, 8, 5, dummy]);
    });

    it("right partial: next adopts middle's anon_vma", () => {
      const c = setup();
      const v = link(c.mm, 0, 5, 0, { anon: dummy });
      const n = link(c.mm, 5, 8, 5, { flags: NF });
      expect(mergeExisting(c, v, v, 3, 5, NF)).toBe(n);
      expect([n.start, n.end, n.pgoff, n.anonVma]).toEqual([3, 8, 3, dummy]);
      expect([v.start, v.end, v.anonVma]).toEqual([0, 3, dummy]);
    });
  });

  it("merge_extend: vmg with prev = the VMA itself grows it and swallows the next VMA", () => {
    const c = setup();
    const v = link(c.mm, 0, 1, 0);
    const w = link(c.mm, 3, 4, 3);
    // vma_merge_extend(V, delta 2 pages): range [V.end, V.end + 2) with V's attributes.
    const r = mergeNew(c, 1, 3, 1, { prev: v, next: w, anon: v.anonVma });
    expect(r).toBe(v);
    expect([v.start, v.end, v.pgoff]).toEqual([0, 4, 0]);
    expect(inTree(c.mm, w)).toBe(false);
    expect(c.mm.mapCount).toBe(1);
  });

  describe("copy_vma-like (mremap destination merges)", () => {
    it("copy to a place without neighbours: no merge", () => {
      const c = setup();
      const v = link(c.mm, 3, 5, 3);
      expect(mergeNew(c, 0, 2, 0, { anon: v.anonVma, copiedFrom: v })).toBeNull();
      expect(layout(c.mm)).toEqual([[3, 5, 3]]);
    });

    it("copy next to a compatible VMA: the result is that neighbour (N = [4, 8))", () => {
      const c = setup();
      const v = link(c.mm, 0, 2, 0);
      const n = link(c.mm, 6, 8, 6);
      const r = mergeNew(c, 4, 6, 4, { anon: v.anonVma, copiedFrom: v });
      expect(r).toBe(n);
      expect([n.start, n.end, n.pgoff]).toEqual([4, 8, 4]);
      expect(c.mm.mapCount).toBe(2);
    });

    it("a faulted source copied next to an unfaulted VMA gives it the source's anon_vma (case 1)", () => {
      const c = setup();
      const src = link(c.mm, 0x20, 0x22, 4, { anon: dummy });
      const n = link(c.mm, 6, 8, 6);
      expect(mergeNew(c, 4, 6, 4, { anon: dummy, copiedFrom: src })).toBe(n);
      expect([n.start, n.end, n.pgoff, n.anonVma]).toEqual([4, 8, 4, dummy]);
    });

    it("copiedFromForkCheck (6.18.9+): a fork-child source cannot give its anon_vma to an unfaulted target", () => {
      const child = new AnonVma(5);
      for (const [overrides, merges] of [[[], false], [["copiedFromForkCheck=off"], true]] as const) {
        const c = setup(overrides);
        const src = link(c.mm, 0x20, 0x22, 4, { anon: child, chain: 2 });
        const n = link(c.mm, 6, 8, 6);
        const r = mergeNew(c, 4, 6, 4, { anon: child, copiedFrom: src });
        if (merges) {
          expect(r).toBe(n);
          expect([n.start, n.end, n.anonVma]).toEqual([4, 8, child]);
        } else {
          expect(r).toBeNull();
          expect([n.start, n.end, n.anonVma]).toEqual([6, 8, null]);
        }
      }
    });
  });

  describe("expand_only_mode (justExpand, brk)", () => {
    it("expands prev only, without looking further back", () => {
      const c = setup();
      const x = link(c.mm, 0, 2, 0);
      const pv = link(c.mm, 3, 5, 3);
      const r = mergeNew(c, 5, 9, 5, { prev: pv, next: null, justExpand: true });
      expect(r).toBe(pv);
      expect([pv.start, pv.end, pv.pgoff]).toEqual([3, 9, 3]);
      expect([x.start, x.end]).toEqual([0, 2]);
      expect(c.mm.mapCount).toBe(2);
    });

    it("never merges with next, even an adjacent compatible one", () => {
      const c = setup();
      const pv = link(c.mm, 3, 5, 3);
      const n = link(c.mm, 9, 0xa, 9);
      expect(mergeNew(c, 5, 9, 5, { justExpand: true })).toBe(pv);
      expect(layout(c.mm)).toEqual([[3, 9, 3], [9, 0xa, 9]]);
      expect(inTree(c.mm, n)).toBe(true);
      // Without justExpand the same proposal joins all three.
      const c2 = setup();
      const pv2 = link(c2.mm, 3, 5, 3);
      link(c2.mm, 9, 0xa, 9);
      expect(mergeNew(c2, 5, 9, 5)).toBe(pv2);
      expect(layout(c2.mm)).toEqual([[3, 0xa, 3]]);
    });

    it("with no compatible prev, justExpand returns null although next would merge", () => {
      const c = setup();
      link(c.mm, 3, 5, 3, { flags: NF });
      link(c.mm, 9, 0xa, 9);
      expect(mergeNew(c, 5, 9, 5, { justExpand: true })).toBeNull();
      expect(c.mm.mapCount).toBe(2);
    });
  });
});

describe("merge predicate rules (spec §2)", () => {
  it("vma_is_fork_child: an anon_vma whose chain is not singular", () => {
    expect(vma_is_fork_child(null)).toBe(false);
    expect(vma_is_fork_child(new Vma(0, 1, 0, F, null, null, 0))).toBe(false);
    expect(vma_is_fork_child(new Vma(0, 1, 0, F, null, null, 2))).toBe(false);
    expect(vma_is_fork_child(new Vma(0, 1, 0, F, null, dummy, 1))).toBe(false);
    expect(vma_is_fork_child(new Vma(0, 1, 0, F, null, dummy, 2))).toBe(true);
    expect(vma_is_fork_child(new Vma(0, 1, 0, F, null, dummy, 3))).toBe(true);
  });

  describe("anon_vma 3-case rule (6.16+, §2.4.2)", () => {
    it("case 1: an unfaulted target takes a faulted source's anon_vma, unless the source is a fork child", () => {
      for (const chain of [1, 2]) {
        const c = setup();
        const p = link(c.mm, 0, 3, 0, { flags: NF });
        const m = link(c.mm, 3, 6, 3, { anon: dummy, chain });
        const r = mergeExisting(c, p, m, 3, 6, NF);
        if (chain === 1) {
          expect(r).toBe(p);
          expect([p.start, p.end, p.anonVma]).toEqual([0, 6, dummy]);
        } else {
          expect(r).toBeNull();
          expect(layout(c.mm)).toEqual([[0, 3, 0], [3, 6, 3]]);
          expect(p.anonVma).toBeNull();
        }
      }
    });

    it("case 1 on the right side too: a fork-child middle cannot be absorbed by an unfaulted next", () => {
      for (const chain of [1, 2]) {
        const c = setup();
        const m = link(c.mm, 3, 6, 3, { anon: dummy, chain });
        const n = link(c.mm, 6, 9, 6, { flags: NF });
        const r = mergeExisting(c, null, m, 3, 6, NF);
        expect(r).toBe(chain === 1 ? n : null);
      }
    });

    it("case 2: an unfaulted range joins a faulted target unless the target is a fork child", () => {
      for (const chain of [1, 2]) {
        // Existing range.
        const c = setup();
        const p = link(c.mm, 0, 3, 0, { flags: NF, anon: dummy, chain });
        const m = link(c.mm, 3, 6, 3);
        expect(mergeExisting(c, p, m, 3, 6, NF)).toBe(chain === 1 ? p : null);
        // New range, on either side.
        const c2 = setup();
        const p2 = link(c2.mm, 0, 3, 0, { anon: dummy, chain });
        expect(mergeNew(c2, 3, 5, 3)).toBe(chain === 1 ? p2 : null);
        const c3 = setup();
        const n3 = link(c3.mm, 5, 8, 5, { anon: dummy, chain });
        expect(mergeNew(c3, 3, 5, 3)).toBe(chain === 1 ? n3 : null);
        if (chain === 1) expect([n3.start, n3.pgoff]).toEqual([3, 3]);
      }
    });

    it("case 3: both faulted merge only with the very same anon_vma, which may be a fork child's", () => {
      const other = new AnonVma(2);
      // The same object (pieces of one VMA), in a fork child: merge.
      const c = setup();
      const p = link(c.mm, 0, 3, 0, { flags: NF, anon: dummy, chain: 2 });
      const m = link(c.mm, 3, 6, 3, { anon: dummy, chain: 2 });
      expect(mergeExisting(c, p, m, 3, 6, NF)).toBe(p);
      expect([p.start, p.end, p.anonVma]).toEqual([0, 6, dummy]);
      // Different objects: no merge, even without fork.
      const c2 = setup();
      link(c2.mm, 0, 3, 0, { flags: NF, anon: other });
      const m2 = link(c2.mm, 3, 6, 3, { anon: dummy });
      expect(mergeExisting(c2, c2.mm.tree.prev(m2), m2, 3, 6, NF)).toBeNull();
      expect(c2.mm.mapCount).toBe(2);
      // Both unfaulted: merge.
      const c3 = setup();
      const p3 = link(c3.mm, 0, 3, 0, { flags: NF });
      const m3 = link(c3.mm, 3, 6, 3);
      expect(mergeExisting(c3, p3, m3, 3, 6, NF)).toBe(p3);
      expect(p3.anonVma).toBeNull();
    });
  });

  it("old anon_vma rule (anonVmaSourceRule=off): a faulted range cannot join an unfaulted neighbour", () => {
    // Faulted middle into unfaulted prev: the 6.16 rule merges, the old one refuses.
    for (const [overrides, merges] of [[[], true], [["anonVmaSourceRule=off"], false]] as const) {
      const c = setup(overrides);
      const p = link(c.mm, 0, 3, 0, { flags: NF });
      const m = link(c.mm, 3, 6, 3, { anon: dummy });
      expect(mergeExisting(c, p, m, 3, 6, NF), overrides.join()).toBe(merges ? p : null);
    }
    const c = setup(["anonVmaSourceRule=off"]);
    // Unfaulted range into a faulted neighbour with a singular chain: allowed.
    const p = link(c.mm, 0, 3, 0, { anon: dummy });
    expect(mergeNew(c, 3, 4, 3)).toBe(p);
    // ... but not into a fork child's (chain of two).
    const q = link(c.mm, 0x10, 0x13, 0x10, { anon: new AnonVma(3), chain: 2 });
    expect(mergeNew(c, 0x13, 0x14, 0x13)).toBeNull();
    expect(q.end).toBe(0x13);
    // Both unfaulted: allowed (NULL == NULL).
    const r = link(c.mm, 0x20, 0x23, 0x20);
    expect(mergeNew(c, 0x23, 0x24, 0x23)).toBe(r);
    // The same anon_vma on both sides: allowed.
    const s = link(c.mm, 0x30, 0x33, 0x30, { flags: NF, anon: dummy });
    const t = link(c.mm, 0x33, 0x36, 0x33, { anon: dummy });
    expect(mergeExisting(c, s, t, 0x33, 0x36, NF)).toBe(s);
  });

  it("pgoff continuity: prev.pgoff + pages(prev) == P.pgoff and next.pgoff == P.pgoff + pages(P)", () => {
    const c = setup();
    link(c.mm, 0, 3, 0);
    link(c.mm, 5, 8, 7); // next's pgoff is two pages off for a proposal with pgoff 3
    expect(mergeNew(c, 3, 5, 4)).toBeNull(); // prev needs pgoff 3, next needs 5
    expect(c.mm.mapCount).toBe(2);
    const r = mergeNew(c, 3, 5, 3); // lines up with prev only
    expect(r).toBe(c.mm.tree.all()[0]);
    expect(layout(c.mm)).toEqual([[0, 5, 0], [5, 8, 7]]);
    const c2 = setup();
    const n = link(c2.mm, 5, 8, 7);
    expect(mergeNew(c2, 3, 5, 5)).toBe(n); // 5 + 2 == 7
    expect([n.start, n.end, n.pgoff]).toEqual([3, 8, 5]);
  });

  it("VM_SPECIAL: a proposal with VM_IO, VM_DONTEXPAND, VM_PFNMAP or VM_MIXEDMAP never merges", () => {
    expect([VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP].reduce((a, b) => a | b)).toBe(VM_SPECIAL);
    for (const s of [VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP]) {
      // New range next to an identical special VMA.
      const c = setup();
      link(c.mm, 0, 3, 0, { flags: F | s });
      expect(mergeNew(c, 3, 4, 3, { flags: F | s })).toBeNull();
      expect(c.mm.mapCount).toBe(1);
      // Existing range becoming identical to a special prev.
      const c2 = setup();
      const a = link(c2.mm, 0, 3, 0, { flags: F | s });
      const b = link(c2.mm, 3, 4, 3);
      expect(mergeExisting(c2, a, b, 3, 4, F | s)).toBeNull();
      // vma_modify_flags then leaves b in place as the VMA to change.
      expect(vma_modify_flags(c2.k, c2.mm, a, b, 3, 4, F | s)).toBe(b);
      expect(c2.mm.mapCount).toBe(2);
    }
  });

  it("flag inequality: VM_ACCOUNT on one side only prevents the merge", () => {
    const c = setup();
    link(c.mm, 0, 3, 0, { flags: F | VM_ACCOUNT });
    expect(mergeNew(c, 3, 4, 3, { flags: F })).toBeNull();
    const p = c.mm.tree.all()[0]!;
    expect(mergeNew(c, 3, 4, 3, { flags: F | VM_ACCOUNT })).toBe(p);
  });

  it("VM_MAYBE_GUARD (sticky) is ignored when comparing flags", () => {
    const c = setup();
    const p = link(c.mm, 0, 3, 0, { flags: F | VM_MAYBE_GUARD });
    expect(mergeNew(c, 3, 4, 3, { flags: F })).toBe(p);
    expect(p.end).toBe(4);
  });

  it("sticky VM_MAYBE_GUARD of the proposal is OR-ed into the surviving VMA (6.18.44, spec §2.5/§3.1)", () => {
    const c = setup();
    const p = link(c.mm, 0, 3, 0, { flags: F });
    expect(mergeNew(c, 3, 4, 3, { flags: F | VM_MAYBE_GUARD })).toBe(p);
    expect(p.flags & VM_MAYBE_GUARD).toBe(VM_MAYBE_GUARD);
    // And a removed next's sticky bit too.
    const c2 = setup();
    const p2 = link(c2.mm, 0, 3, 0, { flags: F });
    link(c2.mm, 4, 6, 4, { flags: F | VM_MAYBE_GUARD });
    expect(mergeNew(c2, 3, 4, 3, { flags: F })).toBe(p2);
    expect(p2.end).toBe(6);
    expect(p2.flags & VM_MAYBE_GUARD).toBe(VM_MAYBE_GUARD);
  });

  it("file identity: two open file descriptions never merge; the same one with contiguous offsets does", () => {
    const f1 = new File(1, FileKind.Regular, 100);
    const f2 = new File(2, FileKind.Regular, 100);
    const c = setup();
    link(c.mm, 0, 3, 10, { file: f1 });
    expect(mergeNew(c, 3, 5, 13, { file: f2 })).toBeNull();
    expect(mergeNew(c, 3, 5, 13, { file: null })).toBeNull();
    const p = c.mm.tree.all()[0]!;
    expect(mergeNew(c, 3, 5, 13, { file: f1 })).toBe(p);
    expect([p.start, p.end, p.pgoff]).toEqual([0, 5, 10]);
    // An anonymous proposal next to a file VMA is refused too, and vice versa.
    const c2 = setup();
    link(c2.mm, 0, 3, 0);
    expect(mergeNew(c2, 3, 5, 3, { file: f1 })).toBeNull();
  });

  it("no merge across a gap, and none with no neighbours at all", () => {
    const c = setup();
    link(c.mm, 0, 3, 0);
    link(c.mm, 6, 8, 6);
    expect(mergeNew(c, 4, 5, 4)).toBeNull();
    expect(mergeNew(c, 0x10, 0x11, 0x10, { prev: null, next: null })).toBeNull();
    expect(c.mm.mapCount).toBe(2);
  });

  it("existing range: merges the changed part only when prev really ends at its start", () => {
    const c = setup();
    const p = link(c.mm, 0, 3, 0, { flags: NF });
    const m = link(c.mm, 4, 6, 4);
    // prev is passed but not adjacent.
    expect(mergeExisting(c, p, m, 4, 6, NF)).toBeNull();
    expect(c.mm.mapCount).toBe(2);
  });
});

describe("split_vma / __split_vma", () => {
  it("__split_vma: the new object is the lower piece (newBelow) or the upper; the upper's pgoff advances", () => {
    const c = setup();
    const v = link(c.mm, 10, 20, 110, { anon: dummy });
    const lower = __split_vma(c.mm, v, 13, true);
    expect([lower.start, lower.end, lower.pgoff, lower.anonVma]).toEqual([10, 13, 110, dummy]);
    expect([v.start, v.end, v.pgoff]).toEqual([13, 20, 113]);
    const upper = __split_vma(c.mm, v, 15, false);
    expect([upper.start, upper.end, upper.pgoff, upper.anonVma]).toEqual([15, 20, 115, dummy]);
    expect([v.start, v.end, v.pgoff]).toEqual([13, 15, 113]);
    expect(layout(c.mm)).toEqual([[10, 13, 110], [13, 15, 113], [15, 20, 115]]);
    expect(lower).not.toBe(v);
    expect(upper).not.toBe(v);
  });

  it("split_vma: ENOMEM when map_count >= max_map_count, and the tree is left as it was", () => {
    const c = setup();
    const v = link(c.mm, 0, 10, 0);
    link(c.mm, 20, 30, 20);
    c.k.maxMapCount = 2;
    expect(split_vma(c.k, c.mm, v, 5, true)).toBe(-ENOMEM);
    expect(layout(c.mm)).toEqual([[0, 10, 0], [20, 30, 20]]);
    c.k.maxMapCount = 3;
    expect(split_vma(c.k, c.mm, v, 5, true)).toBe(0);
    expect(layout(c.mm)).toEqual([[0, 5, 0], [5, 10, 5], [20, 30, 20]]);
    expect(split_vma(c.k, c.mm, v, 7, false)).toBe(-ENOMEM);
    expect(c.mm.mapCount).toBe(3);
  });

  it("vma_modify_flags: a failed second split does not undo the first", () => {
    const c = setup();
    const v = link(c.mm, 0, 10, 0);
    c.k.maxMapCount = 2;
    expect(vma_modify_flags(c.k, c.mm, v, v, 3, 6, NF)).toBe(-ENOMEM);
    expect(layout(c.mm)).toEqual([[0, 3, 0], [3, 10, 3]]);
    expect(v.start).toBe(3);
  });

  it("vma_modify_flags: a merge needs no split and so succeeds at the map_count limit", () => {
    const c = setup();
    const p = link(c.mm, 0, 3, 0, { flags: NF });
    const v = link(c.mm, 3, 10, 3);
    c.k.maxMapCount = 2;
    expect(vma_modify_flags(c.k, c.mm, p, v, 3, 6, NF)).toBe(p);
    expect(layout(c.mm)).toEqual([[0, 6, 0], [6, 10, 6]]);
  });
});
