/**
 * Machine-wide state of the reference engine: the version switches, sysctls,
 * every mm and the identity counters for anon_vmas and files.
 */
import { DEFAULT_MAX_MAP_COUNT } from "../kernel/facts.js";
import type { KernelSwitches } from "../kernel/versions.js";
import { AnonVma, type Mm } from "./mm_types.js";

export class Kernel {
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  readonly mms = new Map<number, Mm>();
  private nextAnonVma = 1;
  nextFileId = 1;
  nextPid = 1;

  constructor(readonly switches: KernelSwitches) {}

  /** anon_vma_alloc(). */
  anonVmaAlloc(): AnonVma {
    return new AnonVma(this.nextAnonVma++);
  }
}
