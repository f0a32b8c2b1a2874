/**
 * Kernel facts: the one source of truth for VM_* bits, smaps mnemonics, syscall
 * argument values and errno numbers. Both engines take their constants from
 * here (the Wasm engine through the generated assembly/generated/facts.ts), so
 * the two can never drift. Values are those of Linux 6.18 on x86-64 with 4 KiB
 * pages (include/linux/mm.h, include/uapi/asm-generic/mman*.h, errno-base.h).
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
/** x86-64 4-level paging: TASK_SIZE_MAX = 2^47 - PAGE_SIZE. */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;
/** mm->mmap_base used by the simulator for top-down address searches. */
export const MMAP_BASE = 0x7f0000000000;
/** DEFAULT_MAX_MAP_COUNT = USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN. */
export const DEFAULT_MAX_MAP_COUNT = 65530;
/** stack_guard_gap default: 256 pages. */
export const STACK_GUARD_GAP_PAGES = 256;
/**
 * The simulated RAM of one process: at most 15 * 2^20 present pages (60 GiB;
 * the reference engine's page Map holds under 2^24 entries). A
 * write, populate or mlock that could fault in more fails with ENOMEM before
 * it changes anything (a simulation limit, not a kernel fact: the kernel
 * would reclaim, or OOM-kill). Both engines check it at the same points.
 */
export const MAX_MM_PAGES = 0xf00000;
/** The report window of the scenario format: [0x100000000000, 0x200000000000). */
export const WINDOW_START = 0x100000000000;
export const WINDOW_END = 0x200000000000;

/**
 * One VM_* flag: its bit number, its /proc/PID/smaps VmFlags mnemonic (empty if
 * the kernel prints none) and its kernel name. The smaps order is bit order.
 */
export interface VmFlagFact { readonly name: string; readonly bit: number; readonly code: string }

export const VM_FLAG_TABLE: readonly VmFlagFact[] = [
  { name: "VM_READ", bit: 0, code: "rd" },
  { name: "VM_WRITE", bit: 1, code: "wr" },
  { name: "VM_EXEC", bit: 2, code: "ex" },
  { name: "VM_SHARED", bit: 3, code: "sh" },
  { name: "VM_MAYREAD", bit: 4, code: "mr" },
  { name: "VM_MAYWRITE", bit: 5, code: "mw" },
  { name: "VM_MAYEXEC", bit: 6, code: "me" },
  { name: "VM_MAYSHARE", bit: 7, code: "ms" },
  { name: "VM_GROWSDOWN", bit: 8, code: "gd" },
  { name: "VM_UFFD_MISSING", bit: 9, code: "um" },
  { name: "VM_PFNMAP", bit: 10, code: "pf" },
  { name: "VM_MAYBE_GUARD", bit: 11, code: "gu" },
  { name: "VM_UFFD_WP", bit: 12, code: "uw" },
  { name: "VM_LOCKED", bit: 13, code: "lo" },
  { name: "VM_IO", bit: 14, code: "io" },
  { name: "VM_SEQ_READ", bit: 15, code: "sr" },
  { name: "VM_RAND_READ", bit: 16, code: "rr" },
  { name: "VM_DONTCOPY", bit: 17, code: "dc" },
  { name: "VM_DONTEXPAND", bit: 18, code: "de" },
  { name: "VM_LOCKONFAULT", bit: 19, code: "lf" },
  { name: "VM_ACCOUNT", bit: 20, code: "ac" },
  { name: "VM_NORESERVE", bit: 21, code: "nr" },
  { name: "VM_HUGETLB", bit: 22, code: "ht" },
  { name: "VM_SYNC", bit: 23, code: "sf" },
  { name: "VM_ARCH_1", bit: 24, code: "ar" },
  { name: "VM_WIPEONFORK", bit: 25, code: "wf" },
  { name: "VM_DONTDUMP", bit: 26, code: "dd" },
  { name: "VM_SOFTDIRTY", bit: 27, code: "sd" },
  { name: "VM_MIXEDMAP", bit: 28, code: "mm" },
  { name: "VM_HUGEPAGE", bit: 29, code: "hg" },
  { name: "VM_NOHUGEPAGE", bit: 30, code: "nh" },
  { name: "VM_MERGEABLE", bit: 31, code: "mg" },
];

// The flags as bit masks. All live in the low 32 bits, so plain JS numbers
// hold them exactly; use the helpers of vmflags.ts for arithmetic on them.
export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_UFFD_MISSING = 0x200;
export const VM_PFNMAP = 0x400;
export const VM_MAYBE_GUARD = 0x800;
export const VM_UFFD_WP = 0x1000;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_LOCKONFAULT = 0x80000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_HUGETLB = 0x400000;
export const VM_SYNC = 0x800000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_SOFTDIRTY = 0x8000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_MERGEABLE = 0x80000000;

/** Driver-set flags that forbid any merge (mm.h VM_SPECIAL). */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/**
 * Flags that survive a merge from any participant (6.18.44's "sticky VMA
 * flags" backport). VM_SOFTDIRTY would join them with CONFIG_MEM_SOFT_DIRTY,
 * which this kernel does not set.
 */
export const VM_STICKY = VM_MAYBE_GUARD;
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
export const VM_MAY_FLAGS = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

// mmap(2) prot and flags (uapi asm-generic/mman-common.h, x86 mman.h).
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x100;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_FIXED_NOREPLACE = 0x100000;

/** A name's value in a lookup table, own properties only (so "toString" is not a name). */
export function lookup<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Scenario flag words → MAP_* bits. */
export const MAP_FLAG_NAMES: Readonly<Record<string, number>> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anonymous: MAP_ANONYMOUS,
  anon: MAP_ANONYMOUS,
  fixed: MAP_FIXED,
  fixed_noreplace: MAP_FIXED_NOREPLACE,
  growsdown: MAP_GROWSDOWN,
  noreserve: MAP_NORESERVE,
  populate: MAP_POPULATE,
  locked: MAP_LOCKED,
};

// madvise(2) advice values (uapi asm-generic/mman-common.h).
export const MADV: Readonly<Record<string, number>> = {
  normal: 0,
  random: 1,
  sequential: 2,
  willneed: 3,
  dontneed: 4,
  free: 8,
  remove: 9,
  dontfork: 10,
  dofork: 11,
  mergeable: 12,
  unmergeable: 13,
  hugepage: 14,
  nohugepage: 15,
  dontdump: 16,
  dodump: 17,
  wipeonfork: 18,
  keeponfork: 19,
  cold: 20,
  pageout: 21,
  populate_read: 22,
  populate_write: 23,
  collapse: 25,
};
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_COLLAPSE = 25;

// mremap(2) flags.
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

// prctl(2).
export const PR_SET_MEMORY_MERGE = 67;

/** errno numbers (uapi asm-generic/errno-base.h, errno.h). */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
};
export const EPERM = 1;
export const ENOENT = 2;
/** No such process: every call on a process that has exited (the facade's and the engines' choice). */
export const ESRCH = 3;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;

const ERRNO_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, num] of Object.entries(ERRNO)) names[num] = name;
  return names;
})();

/** The symbolic name of an errno number, e.g. 12 → "ENOMEM". */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** The smaps VmFlags line for a flag set, in the kernel's (bit) order. */
export function vmFlagCodes(flags: number): string {
  const codes: string[] = [];
  for (const f of VM_FLAG_TABLE) {
    if (f.code !== "" && Math.floor(flags / 2 ** f.bit) % 2 === 1) codes.push(f.code);
  }
  return codes.join(" ");
}
