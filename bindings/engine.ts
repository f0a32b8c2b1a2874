/**
 * The Engine interface: what the facade needs from a simulation core. Both
 * the TypeScript reference engine and the Wasm engine implement it. It is
 * deliberately numbers-only and kernel-shaped: syscalls return a value >= 0
 * or -errno, addresses and lengths are byte values carried as JS numbers
 * (exact up to 2^53), and processes and files are small integer handles.
 */
import type { KernelSwitches } from "./kernel/versions.js";

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
  /** The VMAs intersecting [lo, hi), in address order. */
  vmas(pid: number, lo: number, hi: number): VmaInfo[];
  /** find_vma(): the first VMA whose end is above addr, or null. */
  findVma(pid: number, addr: number): VmaInfo | null;
}
