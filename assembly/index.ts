// The Wasm engine's exports: a command buffer the facade fills and run()
// drains, an output buffer for VMA records and KSM counters, and init.
// Numbers only cross the boundary; addresses travel as f64 (exact up to
// 2^53). Before each command
// the engine reserves the memory it may need, so exhausting linear memory
// gives ENOMEM and changes nothing.

import {
  CMD_CAPACITY, CMD_SLOTS, OP_CREATE_FILE, OP_CREATE_PROCESS, OP_EXIT, OP_FORK, OP_GET_MAX_MAP_COUNT, OP_KSM_RUN, OP_KSM_SCAN,
  OP_KSM_WRITE, OP_MADVISE, OP_MAP_COUNT, OP_MLOCK, OP_MMAP, OP_MPROTECT, OP_MREMAP, OP_MUNLOCK, OP_MUNMAP,
  OP_OPEN_DEV_ZERO, OP_PRCTL_MEMORY_MERGE, OP_READ, OP_SET_MAX_MAP_COUNT, OP_WRITE, OUT_CAPACITY, VMA_SLOTS,
} from "./generated/abi";
import {
  EINVAL, ENOMEM, ESRCH, MADV_MERGEABLE, MADV_POPULATE_WRITE, MADV_UNMERGEABLE, PROT_WRITE, VM_LOCKED, VM_LOCKONFAULT, VM_SHARED, VM_WRITE,
} from "./generated/facts";
import {
  CLASS_CHUNK, CLASS_ITEM, CLASS_NODE, CLASS_PAGE, CLASS_SLOT, CLASS_VMA, alloc_init, alloc_set_class, alloc_set_limit, block_reserve,
  heap_bytes,
} from "./alloc";
import { do_madvise } from "./madvise";
import { dup_mmap } from "./fork";
import { kernel_init, maxMapCount, mm_create, mm_of, set_max_map_count } from "./kernel";
import { prctl_set_memory_merge } from "./ksm";
import { global_stat, knob_values, ksm_write_pages_needed, proc_ksm_stat, write_knob } from "./ksm_sysfs";
import { ITEM_SIZE, LINK_BYTES, NODE_SIZE, SLOT_SIZE, calc_checksum, memcmp_pages } from "./ksm_types";
import { __ksm_exit, ksm_reserve_slot, run_for, scan_passes } from "./ksmd";
import { ksm_mm_changed } from "./ksm_unstable";
import { read_pages, write_pages } from "./memory";
import { do_mlock, do_munlock } from "./mlock";
import {
  FILE_DEV_ZERO, FILE_REGULAR, PAGE_REC_SIZE, VMA_SIZE, file_kind, file_new, file_reserve, mm_exited, mm_ksm_registered, mm_map_count, mm_merge_any, mm_set_exited,
  vma_anon, vma_chain, vma_end, vma_file, vma_flags, vma_pgoff, vma_start,
} from "./mm_types";
import { leaves_spanned, pages_init, pt_count_ksm, pt_leaves_in, pt_reserve, pt_reserve_fork, within_mm_pages } from "./pages";
import { PAGE, do_mmap, do_munmap, exit_mmap } from "./mmap";
import { do_mprotect } from "./mprotect";
import { do_mremap } from "./mremap";
import { CHUNK_CAP, CHUNK_SIZE, tree_find, tree_next, tree_reserve } from "./tree";
import { WARM_GROUP, warm_group, warm_hint } from "./warm";

const cmds = memory.data(<i32>(CMD_CAPACITY * CMD_SLOTS * 8), 16);
const out = memory.data(<i32>(OUT_CAPACITY * VMA_SLOTS * 8), 16);

/** Set up the engine: behaviour switches (SW_* bits). Call once per instance. */
export function init(switches: u32): void {
  alloc_init(VMA_SIZE, CHUNK_SIZE);
  alloc_set_class(CLASS_PAGE, PAGE_REC_SIZE);
  // A stable node's item links share the page records' class (alloc.ts): they must fit in one.
  if (LINK_BYTES > PAGE_REC_SIZE) abort("vmasim internal error: a link does not fit a page record");
  alloc_set_class(CLASS_ITEM, ITEM_SIZE);
  alloc_set_class(CLASS_NODE, NODE_SIZE);
  alloc_set_class(CLASS_SLOT, SLOT_SIZE);
  pages_init();
  kernel_init(switches);
}

export function cmd_buffer(): usize {
  return cmds;
}

export function out_buffer(): usize {
  return out;
}

// @ts-ignore: decorator
@inline function arg(c: usize, i: i32): f64 {
  return load<f64>(c + (<usize>(i + 2) << 3));
}

/** Room for n new VMAs in mm (records, chunks, top array, a file); false if memory is exhausted. */
function reserve(mm: usize, n: i32): bool {
  return block_reserve(CLASS_VMA, <u32>n) && tree_reserve(mm, n) && file_reserve();
}

/**
 * Room for installing a page at every page of [first, last) that a VMA with
 * (flags & mask) == want and no flag of unless covers, and for the leaves
 * those pages spread over; false if memory is exhausted.
 */
function reserve_pages_in(mm: usize, first: u64, last: u64, mask: u32, want: u32, unless: u32): bool {
  let pages: u64 = 0;
  let leaves: u64 = 0;
  let v = tree_find(mm, first);
  while (v != 0 && vma_start(v) < last) {
    const f = vma_flags(v);
    if ((f & mask) == want && (f & unless) == 0) {
      const s = max(first, vma_start(v));
      const e = min(last, vma_end(v));
      pages += e - s;
      leaves += leaves_spanned(s, e);
    }
    // The next VMA starts at or after this one's end: past the range, stop without reading it.
    v = vma_end(v) < last ? tree_next(mm, v) : 0;
  }
  // Nothing to install (the common mprotect): nothing to reserve.
  if (pages == 0) return true;
  return within_mm_pages(mm, pages) && pt_reserve(mm, pages, leaves);
}

/**
 * Room for faulting in every page of [first, last) that a private writable
 * VMA covers (a write or a populate installs a page only there).
 */
function reserve_faults(mm: usize, first: u64, last: u64): bool {
  return reserve_pages_in(mm, first, last, VM_WRITE | VM_SHARED, VM_WRITE, 0);
}

/**
 * Room for what an mprotect adding write to [first, last) may populate: every
 * page of a private locked VMA that is not writable yet, unless it locks on
 * fault (mprotect_fixup() populates those at once).
 */
function reserve_mprotect_populate(mm: usize, first: u64, last: u64): bool {
  return reserve_pages_in(mm, first, last, VM_WRITE | VM_SHARED | VM_LOCKED, VM_LOCKED, VM_LOCKONFAULT);
}

/**
 * Room for the VMAs a change of [addr, addr+len) can split off (munmap,
 * mprotect, madvise, mlock): one at each end of the range that falls inside
 * a VMA, none in between (whole VMAs change or go as they are). A change
 * that splits nothing needs no memory, so it works even when memory is full.
 */
function reserve_splits(mm: usize, addr: f64, len: f64): bool {
  // Room for both ends is the common case (and cheap to check); count only when memory is short.
  if (block_reserve(CLASS_VMA, 2) && tree_reserve(mm, 2)) return true;
  const first = first_page(addr);
  const last = last_page(addr, len);
  let n = 0;
  const a = tree_find(mm, first);
  if (a != 0 && vma_start(a) < first) n++;
  if (last > first) {
    const b = tree_find(mm, last - 1);
    if (b != 0 && vma_start(b) < last && vma_end(b) > last) n++;
  }
  return n == 0 || (block_reserve(CLASS_VMA, <u32>n) && tree_reserve(mm, n));
}

/** The pages [first, last) that the bytes [addr, addr+len) touch, cut at 2^64 (touchedPages). */
function first_page(addr: f64): u64 {
  return <u64>Math.floor(addr / PAGE);
}
function last_page(addr: f64, len: f64): u64 {
  return <u64>min(Math.ceil((addr + len) / PAGE), 4503599627370496.0);
}

/** VMAs of mm intersecting [addr, addr+len) (how many a multi-VMA mremap may move). */
function count_range(mm: usize, addr: f64, len: f64): i32 {
  let n = 0;
  const end = addr + len;
  let v = tree_find(mm, first_page(addr));
  while (v != 0 && <f64>vma_start(v) * PAGE < end && n < 1 << 20) {
    n++;
    v = tree_next(mm, v);
  }
  return n;
}

function exec(c: usize): f64 {
  const op = <u32>load<f64>(c);
  const pid = <u32>load<f64>(c, 8);
  if (op != OP_KSM_SCAN && op != OP_KSM_RUN) ksm_mm_changed();
  switch (op) {
    case OP_CREATE_PROCESS: {
      const p = mm_create();
      return p == 0 ? -<f64>ENOMEM : <f64>p;
    }
    case OP_CREATE_FILE:
      if (!file_reserve()) return -<f64>ENOMEM;
      return <f64>file_new(FILE_REGULAR, <u64>Math.ceil(arg(c, 0) / PAGE));
    case OP_OPEN_DEV_ZERO:
      if (!file_reserve()) return -<f64>ENOMEM;
      return <f64>file_new(FILE_DEV_ZERO, 0);
    case OP_SET_MAX_MAP_COUNT:
      set_max_map_count(<u32>min(arg(c, 0), 4294967295.0));
      return 0;
    case OP_GET_MAX_MAP_COUNT:
      return <f64>maxMapCount;
    case OP_KSM_WRITE: {
      const knob = arg(c, 0);
      if (!(knob >= 0 && knob <= 255 && knob == Math.floor(knob))) return -<f64>EINVAL;
      // run=2 unshares every KSM page of the registered mms: a page record each.
      const pages = ksm_write_pages_needed(<i32>knob, arg(c, 1));
      if (pages != 0 && (pages > 0x10000000 || !block_reserve(CLASS_PAGE, <u32>pages))) return -<f64>ENOMEM;
      return <f64>write_knob(<i32>knob, arg(c, 1), arg(c, 2), arg(c, 3), arg(c, 4));
    }
    case OP_KSM_SCAN:
      return scan_passes(arg(c, 0));
    case OP_KSM_RUN:
      return run_for(arg(c, 0));
  }
  const mm = mm_of(pid);
  if (mm == 0) return -<f64>EINVAL;
  // An exited process has no address space: every call on it fails (its map count is 0).
  if (mm_exited(mm)) return op == OP_MAP_COUNT ? 0 : -<f64>ESRCH;
  switch (op) {
    case OP_MAP_COUNT:
      return <f64>mm_map_count(mm);
    case OP_EXIT:
      // __mmput(): ksm_exit() before exit_mmap(); both only free, so nothing is reserved.
      mm_set_exited(mm);
      if (mm_ksm_registered(mm)) __ksm_exit(mm);
      exit_mmap(mm);
      return 0;
    case OP_FORK: {
      const n = <i32>mm_map_count(mm);
      if (!block_reserve(CLASS_VMA, <u32>n + 4) || !block_reserve(CLASS_CHUNK, <u32>(n / (CHUNK_CAP / 2) + 4))) return -<f64>ENOMEM;
      // ksm_enter's slot, and the child's page table (as many leaves as the parent's, and its directory).
      if (!ksm_reserve_slot() || !pt_reserve_fork(mm)) return -<f64>ENOMEM;
      const child = dup_mmap(pid);
      return child == 0 ? -<f64>ENOMEM : <f64>child;
    }
    case OP_MREMAP: {
      const n = (<u32>arg(c, 3) & 2) != 0 ? count_range(mm, arg(c, 0), arg(c, 1)) : 1;
      if (!reserve(mm, 3 * n + 6)) return -<f64>ENOMEM;
      // The moved pages' leaves at the destination (each source leaf can straddle two).
      const first = first_page(arg(c, 0));
      const leaves = pt_leaves_in(mm, first, last_page(arg(c, 0), arg(c, 1)));
      if (!pt_reserve(mm, 0, 2 * leaves + 2)) return -<f64>ENOMEM;
      return do_mremap(mm, arg(c, 0), arg(c, 1), arg(c, 2), <u32>arg(c, 3), arg(c, 4));
    }
    case OP_PRCTL_MEMORY_MERGE: {
      // Clearing unshares the KSM pages of the mergeable VMAs: a page record each.
      const off = arg(c, 0) == 0 && mm_merge_any(mm);
      if (!ksm_reserve_slot() || (off && !pt_reserve(mm, pt_count_ksm(mm, 0, u64.MAX_VALUE), 0))) return -<f64>ENOMEM;
      return <f64>prctl_set_memory_merge(mm, arg(c, 0) != 0);
    }
  }
  // Calls that can split VMAs reserve for the splits at their range's ends.
  if (op == OP_MUNMAP || op == OP_MPROTECT || op == OP_MADVISE || op == OP_MLOCK || op == OP_MUNLOCK) {
    if (!reserve_splits(mm, arg(c, 0), arg(c, 1))) return -<f64>ENOMEM;
  }
  switch (op) {
    case OP_MMAP:
      // A new VMA, the pieces of the VMAs it may cut, a shmem file; and under
      // PR_SET_MEMORY_MERGE registering the mm with ksmd (an mm_slot).
      if (!reserve(mm, 3) || !ksm_reserve_slot()) return -<f64>ENOMEM;
      return do_mmap(mm, <u32>max(arg(c, 5), 0), arg(c, 0), arg(c, 1), <u32>arg(c, 2), <u32>arg(c, 3), arg(c, 4));
    case OP_MUNMAP:
      return <f64>do_munmap(mm, arg(c, 0), arg(c, 1));
    case OP_MPROTECT: {
      const prot = <u32>arg(c, 2);
      if ((prot & PROT_WRITE) != 0 && !reserve_mprotect_populate(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)))) {
        return -<f64>ENOMEM;
      }
      return <f64>do_mprotect(mm, arg(c, 0), arg(c, 1), prot);
    }
    case OP_MADVISE: {
      const advice = <u32>arg(c, 2);
      const first = first_page(arg(c, 0));
      const last = last_page(arg(c, 0), arg(c, 1));
      if (advice == MADV_POPULATE_WRITE && !reserve_faults(mm, first, last)) return -<f64>ENOMEM;
      if (advice == MADV_UNMERGEABLE && !pt_reserve(mm, pt_count_ksm(mm, first, last), 0)) return -<f64>ENOMEM;
      if (advice == MADV_MERGEABLE && !ksm_reserve_slot()) return -<f64>ENOMEM;
      return <f64>do_madvise(mm, arg(c, 0), arg(c, 1), advice);
    }
    case OP_MLOCK:
      if (!reserve_faults(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)))) return -<f64>ENOMEM;
      return <f64>do_mlock(mm, arg(c, 0), arg(c, 1));
    case OP_MUNLOCK:
      return <f64>do_munlock(mm, arg(c, 0), arg(c, 1));
    case OP_WRITE: {
      const first = first_page(arg(c, 0));
      const last = last_page(arg(c, 0), arg(c, 1));
      const mode = <u32>arg(c, 2);
      const value = (<u64>arg(c, 4) << 32) | <u64>arg(c, 3);
      if (!reserve_faults(mm, first, last)) return -<f64>ENOMEM;
      return <f64>write_pages(mm, first, last, mode, value);
    }
    case OP_READ:
      return <f64>read_pages(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)));
  }
  return -<f64>EINVAL;
}

/** Run the first n commands of the command buffer; each result replaces the command's slot 0. */
export function run(n: u32): u32 {
  const count = min(n, CMD_CAPACITY);
  for (let i: u32 = 0; i < count; i++) {
    const c = cmds + (<usize>i * CMD_SLOTS << 3);
    if ((i & (WARM_GROUP - 1)) == 0) warm_group(c, min(count - i, WARM_GROUP));
    warm_hint(i & (WARM_GROUP - 1));
    store<f64>(c, exec(c));
  }
  return count;
}

function put_vma(i: u32, v: usize): void {
  const o = out + (<usize>i * VMA_SLOTS << 3);
  store<f64>(o, <f64>vma_start(v) * PAGE, 0);
  store<f64>(o, <f64>vma_end(v) * PAGE, 8);
  store<f64>(o, <f64>vma_flags(v), 16);
  store<f64>(o, <f64>vma_pgoff(v), 24);
  const f = vma_file(v);
  store<f64>(o, f == 0 ? -1 : <f64>f, 32);
  store<f64>(o, <f64>file_kind(f), 40);
  store<f64>(o, <f64>vma_anon(v), 48);
  store<f64>(o, <f64>vma_chain(v), 56);
}

/**
 * Write the VMAs of pid intersecting [lo, hi) into the output buffer, from
 * the first whose end is above `from` (a byte address, for paging); returns
 * how many (at most OUT_CAPACITY).
 */
export function vmas(pid: u32, from: f64, hi: f64): u32 {
  const mm = mm_of(pid);
  if (mm == 0) return 0;
  let n: u32 = 0;
  let v = tree_find(mm, <u64>Math.floor(from / PAGE));
  const hiPage = Math.ceil(hi / PAGE);
  while (v != 0 && <f64>vma_start(v) < hiPage && n < OUT_CAPACITY) {
    put_vma(n++, v);
    v = tree_next(mm, v);
  }
  return n;
}

/** find_vma(): writes the first VMA with end above addr into the output buffer; 1 if found. */
export function find_vma(pid: u32, addr: f64): u32 {
  const mm = mm_of(pid);
  if (mm == 0) return 0;
  const v = tree_find(mm, <u64>Math.floor(addr / PAGE));
  if (v == 0) return 0;
  put_vma(0, v);
  return 1;
}

/** /proc/PID/ksm_stat into the output buffer (KSM_STAT_SLOTS f64, see ksm_sysfs.ts); 1, or 0 if there is no such process. */
export function ksm_stat(pid: u32): u32 {
  const mm = mm_of(pid);
  if (mm == 0) return 0;
  proc_ksm_stat(mm, out);
  return 1;
}

/** The counters of /sys/kernel/mm/ksm and the simulated clock into the output buffer (KSM_GLOBAL_SLOTS f64). */
export function ksm_global(): void {
  global_stat(out);
}

/** The values of the knobs of /sys/kernel/mm/ksm into the output buffer (KSM_KNOB_SLOTS f64, KSM_KNOB_NAMES order). */
export function ksm_knobs(): void {
  knob_values(out);
}

/** Test hook: calc_checksum() of the 64-bit content hi:lo. */
export function ksm_checksum(lo: u32, hi: u32): u32 {
  return calc_checksum((<u64>hi << 32) | <u64>lo);
}

/** Test hook: memcmp_pages() of the 64-bit contents ahi:alo and bhi:blo. */
export function ksm_memcmp(alo: u32, ahi: u32, blo: u32, bhi: u32): i32 {
  return memcmp_pages((<u64>ahi << 32) | <u64>alo, (<u64>bhi << 32) | <u64>blo);
}

/**
 * Test hook: let the engine's records grow by at most bytes more (as if
 * linear memory ended there); a negative value restores the 4 GiB.
 */
export function heap_limit(bytes: f64): void {
  alloc_set_limit(bytes < 0 ? u64.MAX_VALUE : <u64>bytes);
}

/** Bytes of linear memory the engine's records occupy (free blocks included). */
export function engine_bytes(): f64 {
  return <f64>heap_bytes();
}
