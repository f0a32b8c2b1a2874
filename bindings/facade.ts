/**
 * The public facade: a simulated machine with processes whose address spaces
 * answer the kernel's calls. It is the only way in to an engine; results are
 * plain typed objects and failures are errno names, never exceptions.
 */
import { type Engine, FileKind, type VmaInfo, putCommand } from "./engine.js";
import { MADV, MAP_FLAG_NAMES, PAGE_SIZE, lookup, VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE, WINDOW_END, WINDOW_START, errnoName, vmFlagCodes } from "./kernel/facts.js";
import { DEFAULT_KERNEL, type KernelSwitches, resolveKernel } from "./kernel/versions.js";
import { KSM_KNOB_NAMES, type KsmKnobName, parseKnobValue, showKnob } from "./kernel/kstrto.js";
import { ReferenceEngine } from "./reference/engine.js";
import { type CoreSource, WasmEngine } from "./wasm/engine.js";
import type { VmaView } from "./scenario/report.js";
import {
  CMD_SLOTS, OP_MADVISE, OP_MLOCK, OP_MMAP, OP_MPROTECT, OP_MREMAP, OP_MUNLOCK, OP_MUNMAP, OP_PRCTL_MEMORY_MERGE, OP_READ,
  OP_WRITE,
} from "./wasm/abi.js";

export type EngineName = "ts" | "wasm";

/** A syscall's result: the value, or the kernel's errno name. */
export type SysResult<T = number> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errno: string };

export interface SimulationOptions {
  /** Which engine runs the simulation (default "ts"). */
  readonly engine?: EngineName;
  /** Kernel behaviour preset (default "6.18"). */
  readonly kernel?: string;
  /** Single switches on top of the preset, e.g. ["ksmEarly=off"]. */
  readonly set?: readonly string[];
  /**
   * The Wasm engine's code, for engine "wasm": a compiled WebAssembly.Module
   * (compile build/core.wasm once, e.g. with WebAssembly.compileStreaming, and
   * share it between simulations and workers) or the .wasm bytes. Default: the
   * copy embedded in the package.
   */
  readonly wasm?: CoreSource;
}

/** One VMA as the facade reports it. */
export interface Vma {
  readonly start: number;
  readonly end: number;
  /** vm_flags bits. */
  readonly flags: number;
  /** The smaps VmFlags mnemonics, e.g. "rd wr mr mw me ac". */
  readonly vmflags: string;
  /** As in /proc/PID/maps, e.g. "rw-p". */
  readonly perms: string;
  /** vm_pgoff in pages. */
  readonly pgoff: number;
  /** The name of the file or device, "/dev/zero (deleted)" for shared anonymous memory, or null. */
  readonly file: string | null;
  /** anon_vma identity (0: none yet); equal numbers are the same anon_vma. */
  readonly anonVma: number;
  /** True if the VMA's anon_vma came through fork (its chain is longer than one). */
  readonly forkChild: boolean;
}

/** /proc/PID/ksm_stat of one process. */
export interface KsmProcessStat {
  readonly ksmRmapItems: number;
  readonly ksmZeroPages: number;
  readonly ksmMergingPages: number;
  readonly ksmProcessProfit: number;
  readonly ksmMergeAny: boolean;
  readonly ksmMergeable: boolean;
}

/** The counters of /sys/kernel/mm/ksm. */
export interface KsmGlobalStat {
  readonly pagesShared: number;
  readonly pagesSharing: number;
  readonly pagesUnshared: number;
  readonly pagesVolatile: number;
  readonly stableNodeChains: number;
  readonly stableNodeDups: number;
  readonly ksmZeroPages: number;
  readonly generalProfit: number;
  /** Full scans since the simulation started (reset by run=2). */
  readonly fullScans: number;
  readonly pagesScanned: number;
  readonly pagesSkipped: number;
  /** Simulated time ksmd has run (ms). */
  readonly clockMs: number;
}

/** Page content for write(): a value in every word, each page's own address, or a cycle of K values. */
export type PageContent = { readonly value: bigint } | "unique" | { readonly cycle: number | bigint };

type Num = number | bigint;

function num(v: Num): number {
  return typeof v === "bigint" ? Number(v) : v;
}

const codeCache = new Map<number, string>();
const permsCache = new Map<number, string>();

/** The smaps codes of a flag set (few distinct sets occur: cached). */
function flagCodes(flags: number): string {
  let c = codeCache.get(flags);
  if (c === undefined) {
    c = vmFlagCodes(flags);
    codeCache.set(flags, c);
  }
  return c;
}

/** The /proc/PID/maps permission column of a flag set. */
function permsOf(flags: number): string {
  let p = permsCache.get(flags);
  if (p === undefined) {
    p = `${flags & VM_READ ? "r" : "-"}${flags & VM_WRITE ? "w" : "-"}${flags & VM_EXEC ? "x" : "-"}${flags & VM_MAYSHARE ? "s" : "p"}`;
    permsCache.set(flags, p);
  }
  return p;
}

function result(r: number): SysResult {
  return r < 0 ? { ok: false, errno: errnoName(-r) } : { ok: true, value: r };
}

function parseProtArg(prot: string | number): number {
  if (typeof prot === "number") return prot;
  if (!/^[r-][w-][x-]$/.test(prot)) throw new TypeError(`bad prot '${prot}' (expected e.g. "rw-")`);
  return (prot[0] === "r" ? 1 : 0) | (prot[1] === "w" ? 2 : 0) | (prot[2] === "x" ? 4 : 0);
}

function parseMapFlagsArg(flags: string | number): number {
  if (typeof flags === "number") return flags;
  let bits = 0;
  for (const name of flags.split("|")) {
    const b = lookup(MAP_FLAG_NAMES, name);
    if (b === undefined) throw new TypeError(`unknown mmap flag '${name}'`);
    bits |= b;
  }
  return bits;
}

export function createEngine(name: EngineName, switches: KernelSwitches, wasm?: CoreSource): Engine {
  return name === "ts" ? new ReferenceEngine(switches) : new WasmEngine(switches, wasm);
}

function adviceArg(advice: string | number): number {
  const a = typeof advice === "number" ? advice : lookup(MADV, advice);
  if (a === undefined) throw new TypeError(`unknown madvise advice '${advice}'`);
  return a;
}

function mremapFlags(opts: MremapOptions): number {
  return (opts.maymove || opts.fixed !== undefined ? 1 : 0) | (opts.fixed !== undefined ? 2 : 0) | (opts.dontunmap ? 4 : 0);
}

function contentArgs(content: PageContent): [number, number, number] {
  const [mode, arg] = content === "unique" ? [1, 0n] : "cycle" in content ? [2, BigInt(content.cycle)] : [0, content.value];
  const a = BigInt.asUintN(64, arg);
  return [mode, Number(a & 0xffffffffn), Number(a >> 32n)];
}

export interface MremapOptions {
  readonly maymove?: boolean;
  readonly fixed?: Num;
  readonly dontunmap?: boolean;
}

/**
 * A batch of syscalls, possibly of several processes, run together: the Wasm
 * engine drains it with one crossing per command buffer. Results come back
 * in order, as the immediate calls of AddressSpace would give them.
 */
export class Batch {
  private cmds = new Float64Array(64 * CMD_SLOTS);
  private used = 0;

  constructor(private readonly sim: Simulation) {}

  get length(): number {
    return this.used / CMD_SLOTS;
  }

  private push(op: number, p: AddressSpace, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): this {
    if (this.used === this.cmds.length) {
      const bigger = new Float64Array(this.cmds.length * 2);
      bigger.set(this.cmds);
      this.cmds = bigger;
    }
    putCommand(this.cmds, this.used, op, p.pid, a0, a1, a2, a3, a4, a5);
    this.used += CMD_SLOTS;
    return this;
  }

  mmap(p: AddressSpace, addr: Num, len: Num, prot: string | number, flags: string | number, file: FileHandle | null = null, offset: Num = 0): this {
    return this.push(OP_MMAP, p, num(addr), num(len), parseProtArg(prot), parseMapFlagsArg(flags), num(offset), file === null ? 0 : file.fd);
  }
  munmap(p: AddressSpace, addr: Num, len: Num): this {
    return this.push(OP_MUNMAP, p, num(addr), num(len));
  }
  mprotect(p: AddressSpace, addr: Num, len: Num, prot: string | number): this {
    return this.push(OP_MPROTECT, p, num(addr), num(len), parseProtArg(prot));
  }
  madvise(p: AddressSpace, addr: Num, len: Num, advice: string | number): this {
    return this.push(OP_MADVISE, p, num(addr), num(len), adviceArg(advice));
  }
  mremap(p: AddressSpace, addr: Num, oldLen: Num, newLen: Num, opts: MremapOptions = {}): this {
    return this.push(OP_MREMAP, p, num(addr), num(oldLen), num(newLen), mremapFlags(opts), num(opts.fixed ?? 0));
  }
  mlock(p: AddressSpace, addr: Num, len: Num): this {
    return this.push(OP_MLOCK, p, num(addr), num(len));
  }
  munlock(p: AddressSpace, addr: Num, len: Num): this {
    return this.push(OP_MUNLOCK, p, num(addr), num(len));
  }
  setMemoryMerge(p: AddressSpace, value: Num): this {
    return this.push(OP_PRCTL_MEMORY_MERGE, p, num(value));
  }
  write(p: AddressSpace, addr: Num, len: Num, content: PageContent = { value: 1n }): this {
    return this.push(OP_WRITE, p, num(addr), num(len), ...contentArgs(content));
  }
  read(p: AddressSpace, addr: Num, len: Num): this {
    return this.push(OP_READ, p, num(addr), num(len));
  }

  /** Run every queued call and empty the batch. */
  run(): SysResult[] {
    return Array.from(this.runRaw(), result);
  }

  /**
   * Run every queued call and empty the batch; the raw results (value or
   * -errno), for bulk work: in the first slots of `into` if given (then
   * nothing is allocated; too short a buffer is a RangeError, before any
   * call runs), else in a new array.
   */
  runRaw(into?: Float64Array): Float64Array {
    const results = this.sim.engine.submit(this.cmds.subarray(0, this.used), into);
    this.used = 0;
    return results;
  }
}

/** An opened file or device, to be passed to mmap(). */
export class FileHandle {
  constructor(
    readonly name: string,
    readonly fd: number,
  ) {}
}

export class Simulation {
  readonly engine: Engine;
  readonly kernel: string;
  private readonly processes = new Map<string, AddressSpace>();
  private readonly fileNames = new Map<number, string>();

  constructor(opts: SimulationOptions = {}) {
    this.kernel = opts.kernel ?? DEFAULT_KERNEL;
    this.engine = createEngine(opts.engine ?? "ts", resolveKernel(this.kernel, opts.set ?? []), opts.wasm);
  }

  /** The behaviour switches of the simulated kernel. */
  get switches(): KernelSwitches {
    return this.engine.switches;
  }

  /** A new empty batch of syscalls. */
  batch(): Batch {
    return new Batch(this);
  }

  /** Every process, in the order they were created. */
  processList(): AddressSpace[] {
    return [...this.processes.values()];
  }

  /** The process called name, created empty the first time (an exited one stays exited: names are not reused). */
  process(name: string): AddressSpace {
    let p = this.processes.get(name);
    if (p === undefined) {
      p = new AddressSpace(this, name, this.engine.createProcess());
      this.processes.set(name, p);
    }
    return p;
  }

  /** fork(2) of parent; the child is called name. */
  fork(parent: AddressSpace, name: string): SysResult<AddressSpace> {
    if (this.processes.has(name)) throw new Error(`a process called '${name}' exists already`);
    const pid = this.engine.fork(parent.pid);
    if (pid < 0) return { ok: false, errno: errnoName(-pid) };
    const child = new AddressSpace(this, name, pid);
    this.processes.set(name, child);
    return { ok: true, value: child };
  }

  /** A regular file of size bytes, opened read-write. */
  createFile(name: string, size: Num): FileHandle {
    const fd = this.engine.createFile(num(size));
    this.fileNames.set(fd, name);
    return new FileHandle(name, fd);
  }

  /** Open /dev/zero. */
  openDevZero(name: string): FileHandle {
    const fd = this.engine.openDevZero();
    this.fileNames.set(fd, name);
    return new FileHandle(name, fd);
  }

  /** Write /sys/kernel/mm/ksm/KEY (e.g. ksmWrite("run", "1")); the kernel's parser reads the text. */
  ksmWrite(key: KsmKnobName, value: string): SysResult {
    const knob = KSM_KNOB_NAMES.indexOf(key);
    if (knob < 0) throw new TypeError(`unknown ksm knob '${key}'`);
    const v = parseKnobValue(value);
    return result(this.engine.ksmWrite(knob, v.u, v.i, v.b, v.mode));
  }

  /** Read /sys/kernel/mm/ksm/KEY: the text the kernel's show function prints, without the newline (e.g. "100", "[none] scan-time"). */
  ksmRead(key: KsmKnobName): string {
    const knob = KSM_KNOB_NAMES.indexOf(key);
    if (knob < 0) throw new TypeError(`unknown ksm knob '${key}'`);
    return showKnob(key, this.engine.ksmKnobs()[knob]!);
  }

  /** Let ksmd complete n more full scans; false if it never could (run is not 1, or nothing to scan). */
  ksmScan(n: number): boolean {
    return this.engine.ksmScan(n) === 0;
  }

  /** Let ksmd run for ms of simulated time (paced by pages_to_scan and sleep_millisecs). */
  ksmRun(ms: number): void {
    this.engine.ksmRun(ms);
  }

  /** The counters of /sys/kernel/mm/ksm. */
  ksmStat(): KsmGlobalStat {
    const g = this.engine.ksmGlobal();
    return {
      pagesShared: g[0]!, pagesSharing: g[1]!, pagesUnshared: g[2]!, pagesVolatile: g[3]!, stableNodeChains: g[4]!,
      stableNodeDups: g[5]!, ksmZeroPages: g[6]!, generalProfit: g[7]!, fullScans: g[8]!, pagesScanned: g[9]!, pagesSkipped: g[10]!,
      clockMs: g[11]!,
    };
  }

  get maxMapCount(): number {
    return this.engine.getMaxMapCount();
  }

  set maxMapCount(n: number) {
    this.engine.setMaxMapCount(n);
  }

  /** @internal the report name of a VMA's file. */
  fileName(v: VmaInfo): string | null {
    if (v.fileKind === FileKind.None) return null;
    if (v.fileKind === FileKind.ShmemAnon) return "/dev/zero (deleted)";
    return this.fileNames.get(v.file) ?? null;
  }
}

export class AddressSpace {
  private gone = false;

  constructor(
    readonly sim: Simulation,
    readonly name: string,
    readonly pid: number,
  ) {}

  /** True once exit() has succeeded. */
  get exited(): boolean {
    return this.gone;
  }

  /**
   * exit(2): the process's address space goes (every VMA unmapped, its pages
   * zapped) and ksmd learns of it; ksmd frees the process's rmap_items on its
   * next visit, so the KSM counters lag as on the kernel. Afterwards every
   * call of this AddressSpace (exit included) fails with ESRCH, vmas() is
   * empty, mapCount is 0 and ksmStat() all zeros; the process keeps its name.
   */
  exit(): SysResult {
    const r = result(this.e.exitProcess(this.pid));
    if (r.ok) this.gone = true;
    return r;
  }

  private get e(): Engine {
    return this.sim.engine;
  }

  mmap(addr: Num, len: Num, prot: string | number, flags: string | number, file: FileHandle | null = null, offset: Num = 0): SysResult {
    return result(this.e.mmap(this.pid, num(addr), num(len), parseProtArg(prot), parseMapFlagsArg(flags), file === null ? -1 : file.fd, num(offset)));
  }

  munmap(addr: Num, len: Num): SysResult {
    return result(this.e.munmap(this.pid, num(addr), num(len)));
  }

  mprotect(addr: Num, len: Num, prot: string | number): SysResult {
    return result(this.e.mprotect(this.pid, num(addr), num(len), parseProtArg(prot)));
  }

  madvise(addr: Num, len: Num, advice: string | number): SysResult {
    return result(this.e.madvise(this.pid, num(addr), num(len), adviceArg(advice)));
  }

  mremap(addr: Num, oldLen: Num, newLen: Num, opts: MremapOptions = {}): SysResult {
    return result(this.e.mremap(this.pid, num(addr), num(oldLen), num(newLen), mremapFlags(opts), num(opts.fixed ?? 0)));
  }

  mlock(addr: Num, len: Num): SysResult {
    return result(this.e.mlock(this.pid, num(addr), num(len)));
  }

  munlock(addr: Num, len: Num): SysResult {
    return result(this.e.munlock(this.pid, num(addr), num(len)));
  }

  /** prctl(PR_SET_MEMORY_MERGE, value). */
  setMemoryMerge(value: Num): SysResult {
    return result(this.e.prctlMemoryMerge(this.pid, num(value)));
  }

  /** Write every page of the range (faulting it in); EFAULT at the first page that cannot be written. */
  write(addr: Num, len: Num, content: PageContent = { value: 1n }): SysResult {
    const [mode, lo, hi] = contentArgs(content);
    return result(this.e.writePages(this.pid, num(addr), num(len), mode, (BigInt(hi) << 32n) | BigInt(lo)));
  }

  /** Read one byte of every page of the range; EFAULT at the first page that cannot be read. */
  read(addr: Num, len: Num): SysResult {
    return result(this.e.readPages(this.pid, num(addr), num(len)));
  }

  /** /proc/PID/ksm_stat. */
  ksmStat(): KsmProcessStat {
    const k = this.gone ? [0, 0, 0, 0, 0, 0] : this.e.ksmStat(this.pid);
    return {
      ksmRmapItems: k[0]!, ksmZeroPages: k[1]!, ksmMergingPages: k[2]!, ksmProcessProfit: k[3]!,
      ksmMergeAny: k[4] === 1, ksmMergeable: k[5] === 1,
    };
  }

  /** mm->map_count: every VMA of the process. */
  get mapCount(): number {
    return this.e.mapCount(this.pid);
  }

  /** The VMAs intersecting [lo, hi) (default: the report window). */
  vmas(lo: number = WINDOW_START, hi: number = WINDOW_END): Vma[] {
    return this.e.vmas(this.pid, lo, hi).map((v) => this.toVma(v));
  }

  /** find_vma(): the first VMA ending above addr, or null. */
  findVma(addr: Num): Vma | null {
    const v = this.e.findVma(this.pid, num(addr));
    return v === null ? null : this.toVma(v);
  }

  /** The VMAs of the window as reports print them. */
  views(): VmaView[] {
    const out: VmaView[] = [];
    for (const v of this.vmas()) {
      if (v.start < WINDOW_START || v.end > WINDOW_END) continue;
      out.push({ start: v.start, end: v.end, perms: v.perms, offset: v.file === null ? 0 : v.pgoff * PAGE_SIZE, name: v.file, vmflags: v.vmflags });
    }
    return out;
  }

  private toVma(v: VmaInfo): Vma {
    return {
      start: v.start, end: v.end, flags: v.flags, vmflags: flagCodes(v.flags), perms: permsOf(v.flags), pgoff: v.pgoff,
      file: this.sim.fileName(v), anonVma: v.anonVma, forkChild: v.anonVma !== 0 && v.anonChain !== 1,
    };
  }
}
