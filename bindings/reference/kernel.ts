/**
 * Machine-wide state of the reference engine: the version switches, sysctls,
 * every mm and the identity counters for anon_vmas and files.
 */
import { DEFAULT_MAX_MAP_COUNT } from "../kernel/facts.js";
import type { KernelSwitches } from "../kernel/versions.js";
import { Ksm } from "./ksmd.js";
import { AnonVma, type Mm } from "./mm_types.js";

export class Kernel {
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  readonly mms = new Map<number, Mm>();
  private nextAnonVma = 1;
  nextFileId = 1;
  nextPid = 1;

  /** ksmd and its trees and counters. */
  readonly ksm: Ksm;

  constructor(readonly switches: KernelSwitches) {
    this.ksm = new Ksm(this);
  }

  /** anon_vma_alloc(). */
  anonVmaAlloc(): AnonVma {
    return new AnonVma(this.nextAnonVma++);
  }
}
