// The Wasm engine's exports: a command buffer the facade fills and run()
// drains, an output buffer for VMA records, and init. Numbers only cross the
// boundary; addresses travel as f64 (exact up to 2^53). Before each command
// the engine reserves the memory it may need, so exhausting linear memory
// gives ENOMEM and changes nothing.

import {
  CMD_CAPACITY, CMD_SLOTS, OP_CREATE_FILE, OP_CREATE_PROCESS, OP_FORK, OP_GET_MAX_MAP_COUNT, OP_MADVISE, OP_MAP_COUNT,
  OP_MLOCK, OP_MMAP, OP_MPROTECT, OP_MREMAP, OP_MUNLOCK, OP_MUNMAP, OP_OPEN_DEV_ZERO, OP_PRCTL_MEMORY_MERGE, OP_READ,
  OP_SET_MAX_MAP_COUNT, OP_WRITE, OUT_CAPACITY, VMA_SLOTS,
} from "./generated/abi";
import { EINVAL, ENOMEM } from "./generated/facts";
import { CLASS_CHUNK, CLASS_VMA, alloc_init, block_reserve, heap_bytes } from "./alloc";
import { do_madvise } from "./madvise";
import { dup_mmap } from "./fork";
import { kernel_init, maxMapCount, mm_create, mm_of, set_max_map_count } from "./kernel";
import { prctl_set_memory_merge } from "./ksm";
import { read_pages, write_pages } from "./memory";
import { do_mlock, do_munlock } from "./mlock";
import {
  FILE_DEV_ZERO, FILE_REGULAR, VMA_SIZE, file_kind, file_new, file_reserve, mm_map_count, vma_anon, vma_chain, vma_end,
  vma_file, vma_flags, vma_pgoff, vma_start,
} from "./mm_types";
import { PAGE, do_mmap, do_munmap } from "./mmap";
import { do_mprotect } from "./mprotect";
import { do_mremap } from "./mremap";
import { CHUNK_CAP, CHUNK_SIZE, tree_find, tree_next, tree_reserve } from "./tree";

const cmds = memory.data(<i32>(CMD_CAPACITY * CMD_SLOTS * 8), 16);
const out = memory.data(<i32>(OUT_CAPACITY * VMA_SLOTS * 8), 16);

/** Set up the engine: behaviour switches (SW_* bits). Call once per instance. */
export function init(switches: u32): void {
  alloc_init(VMA_SIZE, CHUNK_SIZE);
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
  }
  const mm = mm_of(pid);
  if (mm == 0) return -<f64>EINVAL;
  switch (op) {
    case OP_MAP_COUNT:
      return <f64>mm_map_count(mm);
    case OP_FORK: {
      const n = <i32>mm_map_count(mm);
      if (!block_reserve(CLASS_VMA, <u32>n + 4) || !block_reserve(CLASS_CHUNK, <u32>(n / (CHUNK_CAP / 2) + 4))) return -<f64>ENOMEM;
      const child = dup_mmap(pid);
      return child == 0 ? -<f64>ENOMEM : <f64>child;
    }
    case OP_MREMAP: {
      const n = (<u32>arg(c, 3) & 2) != 0 ? count_range(mm, arg(c, 0), arg(c, 1)) : 1;
      if (!reserve(mm, 3 * n + 6)) return -<f64>ENOMEM;
      return do_mremap(mm, arg(c, 0), arg(c, 1), arg(c, 2), <u32>arg(c, 3), arg(c, 4));
    }
    case OP_PRCTL_MEMORY_MERGE:
      return <f64>prctl_set_memory_merge(mm, arg(c, 0) != 0);
  }
  if (!reserve(mm, 4)) return -<f64>ENOMEM;
  switch (op) {
    case OP_MMAP:
      return do_mmap(mm, <u32>max(arg(c, 5), 0), arg(c, 0), arg(c, 1), <u32>arg(c, 2), <u32>arg(c, 3), arg(c, 4));
    case OP_MUNMAP:
      return <f64>do_munmap(mm, arg(c, 0), arg(c, 1));
    case OP_MPROTECT:
      return <f64>do_mprotect(mm, arg(c, 0), arg(c, 1), <u32>arg(c, 2));
    case OP_MADVISE:
      return <f64>do_madvise(mm, arg(c, 0), arg(c, 1), <u32>arg(c, 2));
    case OP_MLOCK:
      return <f64>do_mlock(mm, arg(c, 0), arg(c, 1));
    case OP_MUNLOCK:
      return <f64>do_munlock(mm, arg(c, 0), arg(c, 1));
    case OP_WRITE:
      return <f64>write_pages(mm, first_page(arg(c, 0)), last_page(arg(c, 0), arg(c, 1)));
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

/** Bytes of linear memory the engine's records occupy (free blocks included). */
export function engine_bytes(): f64 {
  return <f64>heap_bytes();
}
