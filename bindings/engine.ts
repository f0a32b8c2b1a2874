/**
 * The Engine interface: what the facade needs from a simulation core. Both
 * the TypeScript reference engine and the Wasm engine implement it. It is
 * deliberately numbers-only and kernel-shaped: syscalls return a value >= 0
 * or -errno, addresses and lengths are byte values carried as JS numbers
 * (exact up to 2^53), and processes and files are small integer handles.
 */
import type { KernelSwitches } from "./kernel/versions.js";
import {
  CMD_SLOTS, OP_CREATE_FILE, OP_CREATE_PROCESS, OP_EXIT, OP_FORK, OP_GET_MAX_MAP_COUNT, OP_MADVISE, OP_MAP_COUNT, OP_MLOCK, OP_MMAP,
  OP_MPROTECT, OP_MREMAP, OP_MUNLOCK, OP_MUNMAP, OP_OPEN_DEV_ZERO, OP_PRCTL_MEMORY_MERGE, OP_READ, OP_SET_MAX_MAP_COUNT,
  OP_WRITE,
} from "./wasm/abi.js";

/** What kind of object backs a VMA's vm_file (for naming it in reports). */
export const FileKind = {
  None: 0,
  /** A regular file made by the scenario's `file` command. */
  Regular: 1,
  /** /dev/zero: private mappings are anonymous memory that keeps the file. */
  DevZero: 2,
  /** The shmem object behind shared anonymous memory: `/dev/zero (deleted)`. */
  ShmemAnon: 3,
} as const;
export type FileKind = (typeof FileKind)[keyof typeof FileKind];

/** One VMA as an engine reports it. */
export interface VmaInfo {
  readonly start: number;
  readonly end: number;
  /** vm_flags (all modelled bits fit in 32 bits). */
  readonly flags: number;
  /** vm_pgoff, in pages. */
  readonly pgoff: number;
  /** Identity of vm_file (an open file description), or -1. */
  readonly file: number;
  readonly fileKind: FileKind;
  /** Identity of the anon_vma, or 0 if the VMA has none (unfaulted). */
  readonly anonVma: number;
  /** Length of the anon_vma chain: 0 none, 1 normal, >= 2 inherited through fork. */
  readonly anonChain: number;
}

export interface Engine {
  readonly name: "ts" | "wasm";
  readonly switches: KernelSwitches;

  /** A new empty process (mm); returns its pid. */
  createProcess(): number;
  /** fork(2) of pid; returns the child's pid or -errno. */
  fork(pid: number): number;
  /**
   * exit(2) of pid: its address space goes (exit_mmap) and ksmd learns of it
   * (ksm_exit). 0, or -ESRCH if pid has exited already. Afterwards every
   * syscall of pid returns -ESRCH, and its queries see an empty address space.
   */
  exitProcess(pid: number): number;
  /** A regular file of size bytes, opened read-write; returns its file handle. */
  createFile(size: number): number;
  /** An open file description of /dev/zero; returns its file handle. */
  openDevZero(): number;
  /** vm.max_map_count. */
  setMaxMapCount(n: number): void;
  getMaxMapCount(): number;

  mmap(pid: number, addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(pid: number, addr: number, len: number): number;
  mprotect(pid: number, addr: number, len: number, prot: number): number;
  madvise(pid: number, addr: number, len: number, advice: number): number;
  mremap(pid: number, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number;
  mlock(pid: number, addr: number, len: number): number;
  munlock(pid: number, addr: number, len: number): number;
  /** prctl(PR_SET_MEMORY_MERGE, value). */
  prctlMemoryMerge(pid: number, value: number): number;
  /**
   * Writes every page of [addr, addr+len) in order (mode 0: every word = arg;
   * 1: the page's address; 2: page i gets i mod arg + 1); 0 or -EFAULT at the
   * first page that cannot be written, the pages before it written.
   */
  writePages(pid: number, addr: number, len: number, mode: number, arg: bigint): number;
  /** Reads one byte of every page; 0 or -EFAULT. */
  readPages(pid: number, addr: number, len: number): number;

  /** mm->map_count. */
  mapCount(pid: number): number;
  /**
   * Run a batch of commands, CMD_SLOTS numbers each ([op, pid, a0..a5], the
   * OP_* codes of wasm/abi.ts), in order; returns each one's result, in
   * the first slots of `into` if given (resultsFor: bulk work need not
   * allocate). The Wasm engine drains the batch in one crossing per command
   * buffer.
   */
  submit(cmds: Float64Array, into?: Float64Array): Float64Array;
  /**
   * A write to /sys/kernel/mm/ksm/<KSM_KNOB_NAMES[knob]>, the value as the
   * kernel's parsers read it (kstrto.ts); 0 or -errno.
   */
  ksmWrite(knob: number, u: number, i: number, b: number, mode: number): number;
  /** Let ksmd complete n more full scans: 0, or -1 if it cannot (not running, or nothing to scan). */
  ksmScan(n: number): number;
  /** Let ksmd run for ms of simulated time. */
  ksmRun(ms: number): void;
  /** /proc/PID/ksm_stat: [rmap_items, zero_pages, merging_pages, process_profit, merge_any, mergeable]. */
  ksmStat(pid: number): number[];
  /**
   * /sys/kernel/mm/ksm counters: [pages_shared, pages_sharing, pages_unshared, pages_volatile,
   * stable_node_chains, stable_node_dups, ksm_zero_pages, general_profit, full_scans, pages_scanned, pages_skipped,
   * simulated ms].
   */
  ksmGlobal(): number[];
  /** The knobs of /sys/kernel/mm/ksm as numbers, in KSM_KNOB_NAMES order (advisor_mode: 0 none, 1 scan-time). */
  ksmKnobs(): number[];
  /** Bytes of memory the engine's own records take, where it can tell (the Wasm engine), else null. */
  memoryBytes(): number | null;
  /** The VMAs intersecting [lo, hi), in address order. */
  vmas(pid: number, lo: number, hi: number): VmaInfo[];
  /** find_vma(): the first VMA whose end is above addr, or null. */
  findVma(pid: number, addr: number): VmaInfo | null;
}

/** The 64-bit content argument of a write command, carried as two 32-bit halves. */
export function contentArg(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Write a command at slot offset i of cmds, in the layout runCommand and the Wasm engine's exec() read. */
export function putCommand(cmds: Float64Array, i: number, op: number, pid: number, a0: number, a1: number, a2: number, a3: number, a4: number, a5: number): void {
  cmds[i] = op;
  cmds[i + 1] = pid;
  cmds[i + 2] = a0;
  cmds[i + 3] = a1;
  cmds[i + 4] = a2;
  cmds[i + 5] = a3;
  cmds[i + 6] = a4;
  cmds[i + 7] = a5;
}

/** Where submit() puts a batch's results: the first slots of `into` if given (a RangeError if it is too short), else a new array. */
export function resultsFor(cmds: Float64Array, into?: Float64Array): Float64Array {
  const n = cmds.length / CMD_SLOTS;
  if (into === undefined) return new Float64Array(n);
  if (into.length < n) throw new RangeError(`results buffer holds ${into.length} results, the batch has ${n} calls`);
  return into.subarray(0, n);
}

/** Run command i of a batch on an engine's own methods (what submit() means, for engines without a faster path). */
export function runCommand(e: Engine, cmds: Float64Array, i: number): number {
  const c = i * CMD_SLOTS;
  const op = cmds[c]!;
  const pid = cmds[c + 1]!;
  const a = (j: number) => cmds[c + 2 + j]!;
  switch (op) {
    case OP_MMAP: return e.mmap(pid, a(0), a(1), a(2), a(3), a(5) === 0 ? -1 : a(5), a(4));
    case OP_MUNMAP: return e.munmap(pid, a(0), a(1));
    case OP_MPROTECT: return e.mprotect(pid, a(0), a(1), a(2));
    case OP_MADVISE: return e.madvise(pid, a(0), a(1), a(2));
    case OP_MREMAP: return e.mremap(pid, a(0), a(1), a(2), a(3), a(4));
    case OP_MLOCK: return e.mlock(pid, a(0), a(1));
    case OP_MUNLOCK: return e.munlock(pid, a(0), a(1));
    case OP_PRCTL_MEMORY_MERGE: return e.prctlMemoryMerge(pid, a(0));
    case OP_WRITE: return e.writePages(pid, a(0), a(1), a(2), contentArg(a(3), a(4)));
    case OP_READ: return e.readPages(pid, a(0), a(1));
    case OP_CREATE_PROCESS: return e.createProcess();
    case OP_FORK: return e.fork(pid);
    case OP_EXIT: return e.exitProcess(pid);
    case OP_CREATE_FILE: return e.createFile(a(0));
    case OP_OPEN_DEV_ZERO: return e.openDevZero();
    case OP_SET_MAX_MAP_COUNT: e.setMaxMapCount(a(0)); return 0;
    case OP_GET_MAX_MAP_COUNT: return e.getMaxMapCount();
    case OP_MAP_COUNT: return e.mapCount(pid);
    default: return -22;
  }
}
