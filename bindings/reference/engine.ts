/**
 * The reference engine: the readable model of the VMA layer, implementing the
 * Engine interface with the modules of this folder (one per kernel file).
 */
import { type Engine, FileKind, type VmaInfo, resultsFor, runCommand } from "../engine.js";
import { EINVAL, ENOMEM, ESRCH, MADV_POPULATE_WRITE, PAGE_SIZE, PROT_WRITE } from "../kernel/facts.js";
import { KSM_KNOB_NAMES } from "../kernel/kstrto.js";
import type { KernelSwitches } from "../kernel/versions.js";
import { dup_mmap } from "./fork.js";
import { Kernel } from "./kernel.js";
import { prctl_set_memory_merge } from "./ksm.js";
import { global_stat, proc_ksm_stat, write_knob } from "./ksm_sysfs.js";
import { do_madvise } from "./madvise.js";
import { read_pages, write_pages } from "./memory.js";
import { do_mlock, do_munlock } from "./mlock.js";
import { File, Mm, type Vma } from "./mm_types.js";
import { do_mmap, do_munmap, exit_mmap } from "./mmap.js";
import { do_mprotect } from "./mprotect.js";
import { do_mremap } from "./mremap.js";
import { fault_room, mprotect_populate_room } from "./pages.js";

function info(v: Vma): VmaInfo {
  return {
    start: v.start * PAGE_SIZE,
    end: v.end * PAGE_SIZE,
    flags: v.flags,
    pgoff: v.pgoff,
    file: v.file === null ? -1 : v.file.id,
    fileKind: v.file === null ? FileKind.None : v.file.kind,
    anonVma: v.anonVma === null ? 0 : v.anonVma.id,
    anonChain: v.anonChain,
  };
}

/** The pages [first, last) that the bytes [addr, addr+len) touch, cut at 2^64. */
function touchedPages(addr: number, len: number): [number, number] {
  const first = Math.floor(addr / PAGE_SIZE);
  return [first, Math.min(Math.ceil((addr + len) / PAGE_SIZE), 2 ** 52)];
}

export class ReferenceEngine implements Engine {
  readonly name = "ts" as const;
  private readonly k: Kernel;
  private readonly files = new Map<number, File>();

  constructor(readonly switches: KernelSwitches) {
    this.k = new Kernel(switches);
  }

  private mm(pid: number): Mm {
    const mm = this.k.mms.get(pid);
    if (mm === undefined) throw new Error(`vmasim: no process with pid ${pid}`);
    return mm;
  }

  /** Whether pid has exited: every syscall of it is then -ESRCH. */
  private gone(pid: number): boolean {
    return this.mm(pid).exited;
  }

  private file(fd: number): File | null {
    return this.files.get(fd) ?? null;
  }

  createProcess(): number {
    const pid = this.k.nextPid++;
    this.k.mms.set(pid, new Mm(pid));
    return pid;
  }

  fork(pid: number): number {
    if (this.gone(pid)) return -ESRCH;
    const child = dup_mmap(this.k, this.mm(pid), this.k.nextPid++);
    this.k.mms.set(child.pid, child);
    return child.pid;
  }

  exitProcess(pid: number): number {
    const mm = this.mm(pid);
    if (mm.exited) return -ESRCH;
    // __mmput(): ksm_exit() before exit_mmap(), so ksmd's slot is dealt with while the VMAs are still there.
    mm.exited = true;
    if (mm.ksmRegistered) this.k.ksm.__ksm_exit(mm);
    exit_mmap(this.k, mm);
    return 0;
  }

  createFile(size: number): number {
    const f = new File(this.k.nextFileId++, FileKind.Regular, Math.ceil(size / PAGE_SIZE));
    this.files.set(f.id, f);
    return f.id;
  }

  openDevZero(): number {
    const f = new File(this.k.nextFileId++, FileKind.DevZero, 0);
    this.files.set(f.id, f);
    return f.id;
  }

  setMaxMapCount(n: number): void {
    this.k.maxMapCount = n;
  }

  getMaxMapCount(): number {
    return this.k.maxMapCount;
  }

  mmap(pid: number, addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number {
    if (this.gone(pid)) return -ESRCH;
    return do_mmap(this.k, this.mm(pid), this.file(fd), addr, len, prot, flags, offset);
  }

  munmap(pid: number, addr: number, len: number): number {
    if (this.gone(pid)) return -ESRCH;
    return do_munmap(this.k, this.mm(pid), addr, len);
  }

  mprotect(pid: number, addr: number, len: number, prot: number): number {
    if (this.gone(pid)) return -ESRCH;
    if ((prot & PROT_WRITE) !== 0 && !mprotect_populate_room(this.mm(pid), ...touchedPages(addr, len))) return -ENOMEM;
    return do_mprotect(this.k, this.mm(pid), addr, len, prot);
  }

  madvise(pid: number, addr: number, len: number, advice: number): number {
    if (this.gone(pid)) return -ESRCH;
    if (advice === MADV_POPULATE_WRITE && !fault_room(this.mm(pid), ...touchedPages(addr, len))) return -ENOMEM;
    return do_madvise(this.k, this.mm(pid), addr, len, advice);
  }

  mremap(pid: number, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number {
    if (this.gone(pid)) return -ESRCH;
    return do_mremap(this.k, this.mm(pid), addr, oldLen, newLen, flags, newAddr);
  }

  mlock(pid: number, addr: number, len: number): number {
    if (this.gone(pid)) return -ESRCH;
    if (!fault_room(this.mm(pid), ...touchedPages(addr, len))) return -ENOMEM;
    return do_mlock(this.k, this.mm(pid), addr, len);
  }

  munlock(pid: number, addr: number, len: number): number {
    if (this.gone(pid)) return -ESRCH;
    return do_munlock(this.k, this.mm(pid), addr, len);
  }

  prctlMemoryMerge(pid: number, value: number): number {
    if (this.gone(pid)) return -ESRCH;
    return prctl_set_memory_merge(this.k, this.mm(pid), value !== 0);
  }

  writePages(pid: number, addr: number, len: number, mode: number, arg: bigint): number {
    if (this.gone(pid)) return -ESRCH;
    const [first, last] = touchedPages(addr, len);
    if (!fault_room(this.mm(pid), first, last)) return -ENOMEM;
    const value = BigInt.asUintN(64, arg);
    // A cycle of 0 values has no page content (the scenario parser never makes one).
    if (mode === 2 && value === 0n) return -EINVAL;
    const content =
      mode === 1 ? (p: number) => BigInt(p) * 4096n : mode === 2 ? (p: number) => (BigInt(p - first) % value) + 1n : () => value;
    return write_pages(this.k, this.mm(pid), first, last, content);
  }

  readPages(pid: number, addr: number, len: number): number {
    if (this.gone(pid)) return -ESRCH;
    const [first, last] = touchedPages(addr, len);
    return read_pages(this.mm(pid), first, last);
  }

  mapCount(pid: number): number {
    return this.mm(pid).mapCount;
  }

  ksmWrite(knob: number, u: number, i: number, b: number, mode: number): number {
    const key = KSM_KNOB_NAMES[knob];
    return key === undefined ? -EINVAL : write_knob(this.k.ksm, key, { u, i, b, mode });
  }

  ksmScan(n: number): number {
    return this.k.ksm.scan_passes(n) ? 0 : -1;
  }

  ksmRun(ms: number): void {
    this.k.ksm.run_for(ms);
  }

  ksmStat(pid: number): number[] {
    return proc_ksm_stat(this.mm(pid));
  }

  ksmGlobal(): number[] {
    return global_stat(this.k.ksm);
  }

  ksmKnobs(): number[] {
    return KSM_KNOB_NAMES.map((key) => this.k.ksm.knobs[key]);
  }

  memoryBytes(): number | null {
    return null;
  }

  submit(cmds: Float64Array, into?: Float64Array): Float64Array {
    const out = resultsFor(cmds, into);
    for (let i = 0; i < out.length; i++) out[i] = runCommand(this, cmds, i);
    return out;
  }

  vmas(pid: number, lo: number, hi: number): VmaInfo[] {
    return this.mm(pid).tree.range(Math.floor(lo / PAGE_SIZE), Math.ceil(hi / PAGE_SIZE)).map(info);
  }

  findVma(pid: number, addr: number): VmaInfo | null {
    const v = this.mm(pid).tree.find(Math.floor(addr / PAGE_SIZE));
    return v === null ? null : info(v);
  }
}

