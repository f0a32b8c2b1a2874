/**
 * The numbers-only ABI between the facade and the Wasm engine: the command
 * buffer's layout and operation codes. scripts/gen-facts.mjs copies these
 * constants into assembly/generated/abi.ts so both sides share them.
 */

/** f64 slots per command: [op, pid, a0, a1, a2, a3, a4, a5]; the result replaces slot 0. */
export const CMD_SLOTS = 8;
/** Commands the buffer holds. */
export const CMD_CAPACITY = 4096;
/** f64 slots per VMA record in the output buffer. */
export const VMA_SLOTS = 8;
/** VMA records the output buffer holds per call. */
export const OUT_CAPACITY = 4096;

export const OP_MMAP = 1;
export const OP_MUNMAP = 2;
export const OP_MPROTECT = 3;
export const OP_MADVISE = 4;
export const OP_MREMAP = 5;
export const OP_MLOCK = 6;
export const OP_MUNLOCK = 7;
export const OP_PRCTL_MEMORY_MERGE = 8;
export const OP_WRITE = 9;
export const OP_READ = 10;
export const OP_CREATE_PROCESS = 11;
export const OP_FORK = 12;
export const OP_CREATE_FILE = 13;
export const OP_OPEN_DEV_ZERO = 14;
export const OP_SET_MAX_MAP_COUNT = 15;
export const OP_GET_MAX_MAP_COUNT = 16;
export const OP_MAP_COUNT = 17;
/** exit(2) of the process: its address space goes (exit_mmap), ksmd learns of it (ksm_exit). */
export const OP_EXIT = 21;
/** KSM (the Wasm engine's own ops; the facade calls Engine.ksmWrite/ksmScan/ksmRun): [knob, u, i, b, mode], [n], [ms]. */
export const OP_KSM_WRITE = 18;
export const OP_KSM_SCAN = 19;
export const OP_KSM_RUN = 20;
/** f64 values ksm_stat(pid) and ksm_global() write into the output buffer. */
export const KSM_STAT_SLOTS = 6;
export const KSM_GLOBAL_SLOTS = 12;
/** f64 values ksm_knobs() writes into the output buffer: the knobs, in KSM_KNOB_NAMES order. */
export const KSM_KNOB_SLOTS = 13;
