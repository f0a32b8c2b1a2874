/**
 * The objects of the reference engine, named after their kernel structs:
 * vm_area_struct (Vma), anon_vma (AnonVma), struct file (File) and mm_struct
 * (Mm). Addresses inside the engine are page numbers (address >> PAGE_SHIFT).
 */
import { FileKind } from "../engine.js";
import { VmaTree } from "./tree.js";

/**
 * A physical anonymous page (a folio of one page): its content (the 64-bit
 * value repeated over 4 KiB), how many page tables map it, and, for a KSM
 * page, its stable node. Fork makes parent and child map the same Page.
 */
export class Page {
  mapcount = 1;
  /** Set when this page became a KSM page (stable node owner), else null. */
  stable: StableNodeRef | null = null;
  /** A KSM page not yet tied to a stable node (between merge_two_pages and stable_tree_insert). */
  ksm = false;
  constructor(public content: bigint) {}
}

/** What a Page knows of its stable node (the node type lives in ksm_types.ts). */
export interface StableNodeRef {
  readonly id: number;
}

/** The shared zero page KSM maps in place of zero-filled pages with use_zero_pages=1. */
export const KSM_ZERO_PAGE: Page = new Page(0n);

/** An anon_vma: only its identity matters to merging. */
export class AnonVma {
  constructor(readonly id: number) {}
}

/** An open file description (struct file): two open()s are two Files. */
export class File {
  constructor(
    readonly id: number,
    readonly kind: FileKind,
    /** Size in pages for regular files (pages beyond it fault with SIGBUS). */
    readonly sizePages: number,
  ) {}

  /** Shared anonymous memory lives in a shmem file (shmem_zero_setup()). */
  get isShmem(): boolean {
    return this.kind === FileKind.ShmemAnon;
  }
}

/** A vm_area_struct. */
export class Vma {
  constructor(
    public start: number,
    public end: number,
    public pgoff: number,
    public flags: number,
    public file: File | null,
    public anonVma: AnonVma | null = null,
    /** Length of the anon_vma chain: 0 none, 1 normal, >= 2 for a fork child. */
    public anonChain: number = 0,
  ) {}

  get pages(): number {
    return this.end - this.start;
  }

  /** A copy of every attribute (what vm_area_dup() makes). */
  dup(): Vma {
    return new Vma(this.start, this.end, this.pgoff, this.flags, this.file, this.anonVma, this.anonChain);
  }
}

/** vma_is_anonymous(): no vm_ops. A private /dev/zero mapping is anonymous too (it keeps vm_file). */
export function vma_is_anonymous(vma: Vma): boolean {
  return vma.file === null || vma.file.kind === FileKind.DevZero;
}

/** An mm_struct: one address space. */
export class Mm {
  readonly tree = new VmaTree();
  /** mm->def_flags (VM_LOCKED after mlockall(MCL_FUTURE); not modelled by the scenario format). */
  defFlags = 0;
  /** MMF_VM_MERGE_ANY: prctl(PR_SET_MEMORY_MERGE, 1) is in force. */
  mergeAny = false;
  /** MMF_VM_MERGEABLE: the mm is registered with ksmd. */
  ksmRegistered = false;
  /** Present private anonymous pages (page tables), by page number. */
  readonly pages = new Map<number, Page>();
  /** Page numbers of `pages` in address order, rebuilt on demand (null: stale). */
  sortedPages: number[] | null = [];
  /** mm->ksm_rmap_items, ksm_merging_pages, ksm_zero_pages. */
  ksmRmapItems = 0;
  ksmMergingPages = 0;
  ksmZeroPages = 0;
  /** mm_users dropped to 0: the process exited (ksm_test_exit() is true). */
  exited = false;

  constructor(readonly pid: number) {}

  /** mm->map_count. */
  get mapCount(): number {
    return this.tree.size;
  }
}
