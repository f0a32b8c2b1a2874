// The records of the Wasm engine, mirroring bindings/reference/mm_types.ts:
// vm_area_struct (VMA), struct file (a table of File entries) and mm_struct
// (Mm), laid out by hand in linear memory. Addresses are page numbers (u64).

import { CLASS_VMA, block_alloc, block_free, pow2_bytes, pow2_class } from "./alloc";
import { VM_LOCKED } from "./generated/facts";

// ---- vm_area_struct: 32 bytes, aligned to 32 (alloc.ts) --------------------
// So that a record never straddles two cache lines: at a million VMAs a
// syscall's records are cache misses, and a 40-byte record cost one and a
// half lines on average (32-byte records: ~4% faster random toggles).
//   0 start page (low 36 bits) | file id << 36
//   8 end page (low 36 bits)   | anon_vma chain length << 36
//  16 pgoff (u64), 24 flags (u32), 28 anon_vma identity (u32)
// Pages fit 36 bits: every VMA lies below TASK_SIZE (2^47 bytes, 2^35
// pages). The high 28 bits hold every value the engine can reach: file ids
// count up in a table of 16 bytes a file (2^28 of them fill 4 GiB), and a
// chain grows by one a fork, each fork a new mm record of 64 bytes that is
// never freed (fewer than 2^26 fit).
export const VMA_SIZE: usize = 32;
const PAGE_BITS: u64 = 36;
const PAGE_MASK: u64 = (<u64>1 << PAGE_BITS) - 1;
// @ts-ignore: decorator
@inline export function vma_start(v: usize): u64 { return load<u64>(v, 0) & PAGE_MASK; }
// @ts-ignore: decorator
@inline export function vma_end(v: usize): u64 { return load<u64>(v, 8) & PAGE_MASK; }
// @ts-ignore: decorator
@inline export function vma_pgoff(v: usize): u64 { return load<u64>(v, 16); }
// @ts-ignore: decorator
@inline export function vma_flags(v: usize): u32 { return load<u32>(v, 24); }
/** vm_file: a file id, 0 for none. */
// @ts-ignore: decorator
@inline export function vma_file(v: usize): u32 { return <u32>(load<u64>(v, 0) >> PAGE_BITS); }
/** anon_vma identity, 0 for none. */
// @ts-ignore: decorator
@inline export function vma_anon(v: usize): u32 { return load<u32>(v, 28); }
/** anon_vma chain length: 0 none, 1 normal, >= 2 fork child. */
// @ts-ignore: decorator
@inline export function vma_chain(v: usize): u32 { return <u32>(load<u64>(v, 8) >> PAGE_BITS); }

/** Raw setters; start/end of a VMA in a tree change only through tree.ts (its index keys on end). */
// @ts-ignore: decorator
@inline export function vma_raw_set_start(v: usize, x: u64): void { store<u64>(v, (load<u64>(v, 0) & ~PAGE_MASK) | x, 0); }
// @ts-ignore: decorator
@inline export function vma_raw_set_end(v: usize, x: u64): void { store<u64>(v, (load<u64>(v, 8) & ~PAGE_MASK) | x, 8); }
// @ts-ignore: decorator
@inline export function vma_set_pgoff(v: usize, x: u64): void { store<u64>(v, x, 16); }
// @ts-ignore: decorator
@inline export function vma_set_flags(v: usize, x: u32): void {
  if ((x & VM_LOCKED) != 0) vmLockedSeen = true;
  store<u32>(v, x, 24);
}
/** Whether any VMA has ever had VM_LOCKED (every flag write goes through vma_set_flags; copies copy a VMA that had it). */
export let vmLockedSeen = false;
// @ts-ignore: decorator
@inline export function vma_set_file(v: usize, x: u32): void { store<u64>(v, (load<u64>(v, 0) & PAGE_MASK) | (<u64>x << PAGE_BITS), 0); }
// @ts-ignore: decorator
@inline export function vma_set_anon(v: usize, x: u32): void { store<u32>(v, x, 28); }
// @ts-ignore: decorator
@inline export function vma_set_chain(v: usize, x: u32): void { store<u64>(v, (load<u64>(v, 8) & PAGE_MASK) | (<u64>x << PAGE_BITS), 8); }
// @ts-ignore: decorator
@inline export function vma_pages(v: usize): u64 { return vma_end(v) - vma_start(v); }

/** A new detached VMA, or 0 if memory is exhausted (callers reserve first). */
export function vma_new(start: u64, end: u64, pgoff: u64, flags: u32, file: u32): usize {
  const v = block_alloc(CLASS_VMA);
  if (v == 0) return 0;
  vma_raw_set_start(v, start);
  vma_raw_set_end(v, end);
  vma_set_pgoff(v, pgoff);
  vma_set_flags(v, flags);
  vma_set_file(v, file);
  return v;
}

/** vm_area_dup(): a detached copy of every attribute. */
export function vma_dup(v: usize): usize {
  const d = block_alloc(CLASS_VMA);
  if (d == 0) return 0;
  // Four words: plain moves, where V8's memory.copy calls out to memmove.
  for (let o: usize = 0; o < VMA_SIZE; o += 8) store<u64>(d + o, load<u64>(v + o));
  return d;
}

export function vma_free(v: usize): void {
  block_free(CLASS_VMA, v);
}

// ---- struct file: a growable table indexed by file id ---------------------
export const FILE_NONE: u32 = 0;
export const FILE_REGULAR: u32 = 1;
export const FILE_DEV_ZERO: u32 = 2;
export const FILE_SHMEM_ANON: u32 = 3;
const FILE_SIZE: usize = 16; // kind u32, pad, sizePages u64

let fileTable: usize = 0;
let fileCap: u32 = 0;
let fileCount: u32 = 1; // id 0 is "no file"

// @ts-ignore: decorator
@inline export function file_kind(id: u32): u32 { return id == 0 ? FILE_NONE : load<u32>(fileTable + <usize>id * FILE_SIZE); }
// @ts-ignore: decorator
@inline export function file_size_pages(id: u32): u64 { return load<u64>(fileTable + <usize>id * FILE_SIZE, 8); }

/** Room for one more file; false if memory is exhausted. */
export function file_reserve(): bool {
  if (fileCount < fileCap) return true;
  const newCap: u32 = fileCap == 0 ? 64 : fileCap * 2;
  const cls = pow2_class(<usize>newCap * FILE_SIZE);
  const t = block_alloc(cls);
  if (t == 0) return false;
  if (fileTable != 0) {
    memory.copy(t, fileTable, <usize>fileCount * FILE_SIZE);
    block_free(pow2_class(<usize>fileCap * FILE_SIZE), fileTable);
  }
  fileTable = t;
  fileCap = <u32>(pow2_bytes(cls) / FILE_SIZE);
  return true;
}

/** A new file id (the caller has reserved room). */
export function file_new(kind: u32, sizePages: u64): u32 {
  const id = fileCount++;
  store<u32>(fileTable + <usize>id * FILE_SIZE, kind);
  store<u64>(fileTable + <usize>id * FILE_SIZE, sizePages, 8);
  return id;
}

// ---- mm_struct --------------------------------------------------------------
// 0 topKeys (u64[topCap]), 4 topPtrs (u32[topCap]), 8 topCount, 12 topCap,
// 16 mapCount, 20 defFlags, 24 mergeAny (u8), 25 exited (u8), 28 ksmRegistered,
// the page table (pages.ts): 32 directory, 36 its count, 40 its capacity, 44 present pages,
// KSM (ksmd.ts): 48 ksm_rmap_items, 52 ksm_merging_pages, 56 ksm_zero_pages, 60 mm_slot
export const MM_SIZE: usize = 64;
// @ts-ignore: decorator
@inline export function mm_map_count(mm: usize): u32 { return load<u32>(mm, 16); }
// @ts-ignore: decorator
@inline export function mm_set_map_count(mm: usize, n: u32): void { store<u32>(mm, n, 16); }
// @ts-ignore: decorator
@inline export function mm_def_flags(mm: usize): u32 { return load<u32>(mm, 20); }
// @ts-ignore: decorator
@inline export function mm_merge_any(mm: usize): bool { return load<u8>(mm, 24) != 0; }
// @ts-ignore: decorator
@inline export function mm_set_merge_any(mm: usize, on: bool): void { store<u8>(mm, on ? 1 : 0, 24); }
/** mm_users dropped to 0: the process exited (ksm_test_exit() is true). */
// @ts-ignore: decorator
@inline export function mm_exited(mm: usize): bool { return load<u8>(mm, 25) != 0; }
// @ts-ignore: decorator
@inline export function mm_set_exited(mm: usize): void { store<u8>(mm, 1, 25); }
// @ts-ignore: decorator
@inline export function mm_set_ksm_registered(mm: usize, on: bool): void { store<u32>(mm, on ? 1 : 0, 28); }
// @ts-ignore: decorator
@inline export function mm_ksm_registered(mm: usize): bool { return load<u32>(mm, 28) != 0; }
/** The page table's directory (pages.ts): sorted entries, one per leaf of 512 pages. */
// @ts-ignore: decorator
@inline export function mm_pdir(mm: usize): usize { return load<u32>(mm, 32); }
// @ts-ignore: decorator
@inline export function mm_set_pdir(mm: usize, d: usize): void { store<u32>(mm, <u32>d, 32); }
// @ts-ignore: decorator
@inline export function mm_pdir_count(mm: usize): i32 { return load<i32>(mm, 36); }
// @ts-ignore: decorator
@inline export function mm_set_pdir_count(mm: usize, n: i32): void { store<i32>(mm, n, 36); }
// @ts-ignore: decorator
@inline export function mm_pdir_cap(mm: usize): i32 { return load<i32>(mm, 40); }
// @ts-ignore: decorator
@inline export function mm_set_pdir_cap(mm: usize, n: i32): void { store<i32>(mm, n, 40); }
/** Present private anonymous pages (KSM zero pages included). */
// @ts-ignore: decorator
@inline export function mm_page_count(mm: usize): u32 { return load<u32>(mm, 44); }
// @ts-ignore: decorator
@inline export function mm_set_page_count(mm: usize, n: u32): void { store<u32>(mm, n, 44); }
/** mm->ksm_rmap_items, ksm_merging_pages, ksm_zero_pages. */
// @ts-ignore: decorator
@inline export function mm_ksm_rmap_items(mm: usize): i32 { return load<i32>(mm, 48); }
// @ts-ignore: decorator
@inline export function mm_set_ksm_rmap_items(mm: usize, n: i32): void { store<i32>(mm, n, 48); }
// @ts-ignore: decorator
@inline export function mm_ksm_merging_pages(mm: usize): i32 { return load<i32>(mm, 52); }
// @ts-ignore: decorator
@inline export function mm_set_ksm_merging_pages(mm: usize, n: i32): void { store<i32>(mm, n, 52); }
// @ts-ignore: decorator
@inline export function mm_ksm_zero_pages(mm: usize): i32 { return load<i32>(mm, 56); }
// @ts-ignore: decorator
@inline export function mm_set_ksm_zero_pages(mm: usize, n: i32): void { store<i32>(mm, n, 56); }
/** ksmd's mm_slot of this mm, 0 if not registered. */
// @ts-ignore: decorator
@inline export function mm_ksm_slot(mm: usize): usize { return load<u32>(mm, 60); }
// @ts-ignore: decorator
@inline export function mm_set_ksm_slot(mm: usize, s: usize): void { store<u32>(mm, <u32>s, 60); }

// ---- struct page (a folio of one page): 16 bytes ----------------------------
// 0 content u64 (the 64-bit value repeated over 4 KiB), 8 mapcount i32,
// 12 the stable node of a KSM page (0: not a KSM page; ksm_types.ts).
export const PAGE_REC_SIZE: usize = 16;
/** The shared zero page KSM maps in place of zero-filled pages (use_zero_pages=1): a marker, never a record. */
export const KSM_ZERO_PAGE: usize = 1;
// @ts-ignore: decorator
@inline export function page_content(p: usize): u64 { return p == KSM_ZERO_PAGE ? 0 : load<u64>(p, 0); }
// @ts-ignore: decorator
@inline export function page_set_content(p: usize, c: u64): void { store<u64>(p, c, 0); }
// @ts-ignore: decorator
@inline export function page_mapcount(p: usize): i32 { return load<i32>(p, 8); }
// @ts-ignore: decorator
@inline export function page_set_mapcount(p: usize, n: i32): void { store<i32>(p, n, 8); }
/** The KSM page's stable node; non-zero exactly when the page is a KSM page (Page.ksm). */
// @ts-ignore: decorator
@inline export function page_stable(p: usize): usize { return load<u32>(p, 12); }
// @ts-ignore: decorator
@inline export function page_set_stable(p: usize, n: usize): void { store<u32>(p, <u32>n, 12); }

/** vma_is_anonymous(): no vm_ops; a private /dev/zero mapping is anonymous and keeps its file. */
export function vma_is_anonymous(v: usize): bool {
  const f = vma_file(v);
  return f == 0 || file_kind(f) == FILE_DEV_ZERO;
}
