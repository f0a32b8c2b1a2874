// The Wasm engine's exports: a command buffer the facade fills and run()
// drains, an output buffer for VMA records and KSM counters, and init.
// Numbers only cross the boundary; addresses travel as f64 (exact up to
// 2^53). exec() dispatches each command to its syscall's entry
// (syscalls.ts), which reserves the memory the call may need first, so
// exhausting linear memory gives ENOMEM and changes nothing.

import {
  CMD_CAPACITY, CMD_SLOTS, OP_CREATE_FILE, OP_CREATE_PROCESS, OP_EXIT, OP_FORK, OP_GET_MAX_MAP_COUNT, OP_KSM_RUN, OP_KSM_SCAN,
  OP_KSM_WRITE, OP_MADVISE, OP_MAP_COUNT, OP_MLOCK, OP_MMAP, OP_MPROTECT, OP_MREMAP, OP_MUNLOCK, OP_MUNMAP,
  OP_OPEN_DEV_ZERO, OP_PRCTL_MEMORY_MERGE, OP_READ, OP_SET_MAX_MAP_COUNT, OP_WRITE, OUT_CAPACITY, VMA_SLOTS,
} from "./generated/abi";
import { EINVAL, ENOMEM, ESRCH } from "./generated/facts";
import { CLASS_ITEM, CLASS_NODE, CLASS_PAGE, CLASS_SLOT, alloc_init, alloc_set_class, alloc_set_limit, block_reserve, heap_bytes } from "./alloc";
import { kernel_init, maxMapCount, mm_create, mm_of, set_max_map_count } from "./kernel";
import { global_stat, knob_values, ksm_write_pages_needed, proc_ksm_stat, write_knob } from "./ksm_sysfs";
import { ITEM_SIZE, LINK_BYTES, NODE_SIZE, SLOT_SIZE, calc_checksum, memcmp_pages } from "./ksm_types";
import { run_for, scan_passes } from "./ksmd";
import { ksm_mm_changed } from "./ksm_unstable";
import {
  FILE_DEV_ZERO, FILE_REGULAR, PAGE_REC_SIZE, VMA_SIZE, file_kind, file_new, file_reserve, mm_exited, mm_map_count,
  vma_anon, vma_chain, vma_end, vma_file, vma_flags, vma_pgoff, vma_start,
} from "./mm_types";
import { pages_init } from "./pages";
import { PAGE } from "./mmap";
import {
  arg, sys_exit, sys_fork, sys_madvise, sys_mlock, sys_mmap, sys_mprotect, sys_mremap, sys_munlock, sys_munmap, sys_prctl_memory_merge, sys_read,
  sys_write,
} from "./syscalls";
import { tree_find, tree_next } from "./tree";
import { CHUNK_SIZE } from "./tree_node";
import { guide_tune } from "./top_guide";
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

/** Run the command at c; its result (a value, or -errno). */
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
    case OP_MPROTECT:
      return sys_mprotect(mm, c);
    case OP_MMAP:
      return sys_mmap(mm, c);
    case OP_MUNMAP:
      return sys_munmap(mm, c);
    case OP_MADVISE:
      return sys_madvise(mm, c);
    case OP_MLOCK:
      return sys_mlock(mm, c);
    case OP_MUNLOCK:
      return sys_munlock(mm, c);
    case OP_MREMAP:
      return sys_mremap(mm, c);
    case OP_FORK:
      return sys_fork(mm, pid);
    case OP_EXIT:
      return sys_exit(mm);
    case OP_PRCTL_MEMORY_MERGE:
      return sys_prctl_memory_merge(mm, c);
    case OP_WRITE:
      return sys_write(mm, c);
    case OP_READ:
      return sys_read(mm, c);
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

/** Test hook: the top guide (top_guide.ts) for top arrays of minEntries or more, built after buildAfter unguided searches. */
export function top_guide_tune(minEntries: i32, buildAfter: u32): void {
  guide_tune(minEntries, buildAfter);
}

/** Bytes of linear memory the engine's records occupy (free blocks included). */
export function engine_bytes(): f64 {
  return <f64>heap_bytes();
}
