// Machine-wide state of the Wasm engine, mirroring bindings/reference/kernel.ts:
// behaviour switches, vm.max_map_count, every mm, and the anon_vma counter.

import { DEFAULT_MAX_MAP_COUNT } from "./generated/facts";
import { pow2_bytes, pow2_class, block_alloc, block_free } from "./alloc";
import { MM_SIZE } from "./mm_types";

/** The KernelSwitches bits (generated SW_* constants). */
export let switches: u32 = 0;
export let maxMapCount: u32 = DEFAULT_MAX_MAP_COUNT;
let nextAnonVma: u32 = 1;

// @ts-ignore: decorator
@inline export function sw(bit: u32): bool {
  return (switches & bit) != 0;
}

export function kernel_init(sws: u32): void {
  switches = sws;
}

export function set_max_map_count(n: u32): void {
  maxMapCount = n;
}

/** anon_vma_alloc(): a new anon_vma identity. */
export function anon_vma_alloc(): u32 {
  return nextAnonVma++;
}

// The mm table: pid → mm record (pids count from 1).
let mmTable: usize = 0;
let mmCap: u32 = 0;
let mmCount: u32 = 1;

export function mm_of(pid: u32): usize {
  if (pid == 0 || pid >= mmCount) return 0;
  return load<u32>(mmTable + (<usize>pid << 2));
}

/** A new empty mm; returns its pid, or 0 if memory is exhausted. */
export function mm_create(): u32 {
  if (mmCount >= mmCap) {
    const newCap: u32 = mmCap == 0 ? 16 : mmCap * 2;
    const cls = pow2_class(<usize>newCap * 4);
    const t = block_alloc(cls);
    if (t == 0) return 0;
    if (mmTable != 0) {
      memory.copy(t, mmTable, <usize>mmCount * 4);
      block_free(pow2_class(<usize>mmCap * 4), mmTable);
    }
    mmTable = t;
    mmCap = <u32>(pow2_bytes(cls) / 4);
  }
  const mm = block_alloc(pow2_class(MM_SIZE));
  if (mm == 0) return 0;
  const pid = mmCount++;
  store<u32>(mmTable + (<usize>pid << 2), <u32>mm);
  return pid;
}
