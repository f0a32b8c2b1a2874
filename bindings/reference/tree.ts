/**
 * The reference engine's VMA index: an address-ordered array with binary
 * search. It stands in for the maple tree: find_vma(), vma_prev/vma_next,
 * insert and erase. Simple and obviously correct; the Wasm engine has the
 * fast structure. VMAs are mutated in place: callers must erase a VMA before
 * growing a neighbour over its range, so the array stays sorted and disjoint.
 */
import type { Vma } from "./mm_types.js";

export class VmaTree {
  private vmas: Vma[] = [];

  get size(): number {
    return this.vmas.length;
  }

  /** Index of the first VMA whose end is above page (vmas.length if none). */
  private indexAbove(page: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid]!.end > page) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private indexOf(vma: Vma): number {
    const i = this.indexAbove(vma.start);
    if (this.vmas[i] !== vma) throw new Error("vmasim internal error: VMA not in tree");
    return i;
  }

  /** find_vma(): the first VMA with end > page, or null. */
  find(page: number): Vma | null {
    return this.vmas[this.indexAbove(page)] ?? null;
  }

  /** The VMA containing page, or null (vma_lookup()). */
  lookup(page: number): Vma | null {
    const v = this.find(page);
    return v !== null && v.start <= page ? v : null;
  }

  /** The last VMA with start < page (the one before a gap or range at page), or null. */
  findPrev(page: number): Vma | null {
    const i = this.indexAbove(page);
    const v = this.vmas[i];
    if (v !== undefined && v.start < page) return v;
    return this.vmas[i - 1] ?? null;
  }

  prev(vma: Vma): Vma | null {
    return this.vmas[this.indexOf(vma) - 1] ?? null;
  }

  next(vma: Vma): Vma | null {
    return this.vmas[this.indexOf(vma) + 1] ?? null;
  }

  insert(vma: Vma): void {
    const i = this.indexAbove(vma.start);
    this.vmas.splice(i, 0, vma);
  }

  remove(vma: Vma): void {
    this.vmas.splice(this.indexOf(vma), 1);
  }

  /** The VMAs intersecting [lo, hi) in address order. */
  range(lo: number, hi: number): Vma[] {
    const out: Vma[] = [];
    if (lo >= hi) return out;
    for (let i = this.indexAbove(lo); i < this.vmas.length && this.vmas[i]!.start < hi; i++) out.push(this.vmas[i]!);
    return out;
  }

  all(): readonly Vma[] {
    return this.vmas;
  }
}
