/**
 * The Wasm engine's TypeScript side: the one file that owns loading the
 * module (embedded as base64, so Node, browsers and workers take the same
 * path), its memory views and the command buffer. Calls are numbers only;
 * submit() drains whole batches of commands in one crossing.
 */
import { instantiateSync } from "@assemblyscript/loader";
import { type Engine, type FileKind, type VmaInfo, putCommand, resultsFor } from "../engine.js";
import { CORE_WASM_BASE64 } from "../generated/core-wasm.js";
import { DEFAULT_KERNEL, KERNEL_PRESETS, type KernelSwitches } from "../kernel/versions.js";
import {
  CMD_CAPACITY, CMD_SLOTS, KSM_GLOBAL_SLOTS, KSM_KNOB_SLOTS, KSM_STAT_SLOTS, OP_CREATE_FILE, OP_CREATE_PROCESS, OP_EXIT, OP_FORK,
  OP_GET_MAX_MAP_COUNT, OP_KSM_RUN, OP_KSM_SCAN, OP_KSM_WRITE, OP_MADVISE, OP_MAP_COUNT, OP_MLOCK, OP_MMAP, OP_MPROTECT,
  OP_MREMAP, OP_MUNLOCK, OP_MUNMAP, OP_OPEN_DEV_ZERO, OP_PRCTL_MEMORY_MERGE, OP_READ, OP_SET_MAX_MAP_COUNT, OP_WRITE,
  OUT_CAPACITY, VMA_SLOTS,
} from "./abi.js";

/** The raw exports of build/core.wasm (assembly/index.ts). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  init(switches: number): void;
  cmd_buffer(): number;
  out_buffer(): number;
  run(n: number): number;
  vmas(pid: number, from: number, hi: number): number;
  find_vma(pid: number, addr: number): number;
  ksm_stat(pid: number): number;
  ksm_global(): void;
  ksm_knobs(): void;
  engine_bytes(): number;
  heap_limit(bytes: number): void;
  top_guide_tune(minEntries: number, buildAfter: number): void;
}

/** What may stand in for the embedded module: a compiled module or the .wasm bytes. */
export type CoreSource = WebAssembly.Module | Uint8Array<ArrayBuffer> | ArrayBuffer;

let embedded: WebAssembly.Module | null = null;

/** The embedded core, compiled once per realm. */
function embeddedModule(): WebAssembly.Module {
  if (embedded === null) {
    const bin = atob(CORE_WASM_BASE64);
    const bytes = new Uint8Array(new ArrayBuffer(bin.length));
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    embedded = new WebAssembly.Module(bytes);
  }
  return embedded;
}

/** The KernelSwitches as the engine's SW_* bit mask (bit i = i-th switch of the default preset). */
export function switchBits(s: KernelSwitches): number {
  let bits = 0;
  Object.keys(KERNEL_PRESETS[DEFAULT_KERNEL]!).forEach((name, i) => {
    if ((s as unknown as Record<string, boolean>)[name]) bits |= 1 << i;
  });
  return bits;
}

export class WasmEngine implements Engine {
  readonly name = "wasm" as const;
  private readonly x: CoreExports;
  private readonly cmdPtr: number;
  private readonly outPtr: number;
  private f64: Float64Array;

  constructor(readonly switches: KernelSwitches, source?: CoreSource) {
    const module = source === undefined ? embeddedModule() : source instanceof WebAssembly.Module ? source : new WebAssembly.Module(source);
    const { instance } = instantiateSync(module, {});
    this.x = instance.exports as unknown as CoreExports;
    this.x.init(switchBits(switches));
    this.cmdPtr = this.x.cmd_buffer() >>> 0;
    this.outPtr = this.x.out_buffer() >>> 0;
    this.f64 = new Float64Array(this.x.memory.buffer);
  }

  /** The Float64Array over linear memory, rebuilt when memory has grown (growth detaches views). */
  private view(): Float64Array {
    if (this.f64.buffer !== this.x.memory.buffer) this.f64 = new Float64Array(this.x.memory.buffer);
    return this.f64;
  }

  private call(op: number, pid: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    const i = this.cmdPtr / 8;
    putCommand(this.view(), i, op, pid, a0, a1, a2, a3, a4, a5);
    this.x.run(1);
    // run() may have grown memory: a fresh view reads the result.
    return this.view()[i]!;
  }

  /**
   * Run a batch of commands ([op, pid, a0..a5] each, CMD_SLOTS f64 per
   * command) in as few crossings as the command buffer allows; returns the
   * results in order.
   */
  submit(cmds: Float64Array, into?: Float64Array): Float64Array {
    const results = resultsFor(cmds, into);
    const n = results.length;
    const base = this.cmdPtr / 8;
    for (let done = 0; done < n; ) {
      const k = Math.min(CMD_CAPACITY, n - done);
      this.view().set(cmds.subarray(done * CMD_SLOTS, (done + k) * CMD_SLOTS), base);
      this.x.run(k);
      const m = this.view();
      for (let j = 0; j < k; j++) results[done + j] = m[base + j * CMD_SLOTS]!;
      done += k;
    }
    return results;
  }

  createProcess(): number {
    return this.call(OP_CREATE_PROCESS, 0);
  }

  fork(pid: number): number {
    return this.call(OP_FORK, pid);
  }

  createFile(size: number): number {
    return this.call(OP_CREATE_FILE, 0, size);
  }

  openDevZero(): number {
    return this.call(OP_OPEN_DEV_ZERO, 0);
  }

  setMaxMapCount(n: number): void {
    this.call(OP_SET_MAX_MAP_COUNT, 0, n);
  }

  getMaxMapCount(): number {
    return this.call(OP_GET_MAX_MAP_COUNT, 0);
  }

  mmap(pid: number, addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.call(OP_MMAP, pid, addr, len, prot, flags, offset, fd < 0 ? 0 : fd);
  }

  munmap(pid: number, addr: number, len: number): number {
    return this.call(OP_MUNMAP, pid, addr, len);
  }

  mprotect(pid: number, addr: number, len: number, prot: number): number {
    return this.call(OP_MPROTECT, pid, addr, len, prot);
  }

  madvise(pid: number, addr: number, len: number, advice: number): number {
    return this.call(OP_MADVISE, pid, addr, len, advice);
  }

  mremap(pid: number, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number {
    return this.call(OP_MREMAP, pid, addr, oldLen, newLen, flags, newAddr);
  }

  mlock(pid: number, addr: number, len: number): number {
    return this.call(OP_MLOCK, pid, addr, len);
  }

  munlock(pid: number, addr: number, len: number): number {
    return this.call(OP_MUNLOCK, pid, addr, len);
  }

  prctlMemoryMerge(pid: number, value: number): number {
    return this.call(OP_PRCTL_MEMORY_MERGE, pid, value);
  }

  writePages(pid: number, addr: number, len: number, mode: number, arg: bigint): number {
    const a = BigInt.asUintN(64, arg);
    return this.call(OP_WRITE, pid, addr, len, mode, Number(a & 0xffffffffn), Number(a >> 32n));
  }

  readPages(pid: number, addr: number, len: number): number {
    return this.call(OP_READ, pid, addr, len);
  }

  exitProcess(pid: number): number {
    return this.call(OP_EXIT, pid);
  }

  mapCount(pid: number): number {
    return this.call(OP_MAP_COUNT, pid);
  }

  private record(m: Float64Array, i: number): VmaInfo {
    const o = this.outPtr / 8 + i * VMA_SLOTS;
    return {
      start: m[o]!, end: m[o + 1]!, flags: m[o + 2]!, pgoff: m[o + 3]!, file: m[o + 4]!,
      fileKind: m[o + 5]! as FileKind, anonVma: m[o + 6]!, anonChain: m[o + 7]!,
    };
  }

  vmas(pid: number, lo: number, hi: number): VmaInfo[] {
    const out: VmaInfo[] = [];
    let from = lo;
    for (;;) {
      const n = this.x.vmas(pid, from, hi);
      const m = this.view();
      for (let i = 0; i < n; i++) out.push(this.record(m, i));
      if (n < OUT_CAPACITY) return out;
      from = out[out.length - 1]!.end;
    }
  }

  findVma(pid: number, addr: number): VmaInfo | null {
    return this.x.find_vma(pid, addr) === 0 ? null : this.record(this.view(), 0);
  }

  ksmWrite(knob: number, u: number, i: number, b: number, mode: number): number {
    return this.call(OP_KSM_WRITE, 0, knob, u, i, b, mode);
  }

  /** 0, -1 if ksmd cannot finish a scan, or -ENOMEM if memory ran out between two page visits. */
  ksmScan(n: number): number {
    return this.call(OP_KSM_SCAN, 0, n);
  }

  ksmRun(ms: number): void {
    const r = this.call(OP_KSM_RUN, 0, ms);
    if (r < 0) throw new Error(`vmasim: the wasm engine ran out of memory while ksmd ran (errno ${-r})`);
  }

  ksmStat(pid: number): number[] {
    if (this.x.ksm_stat(pid) === 0) throw new Error(`vmasim: no process with pid ${pid}`);
    return this.numbers(KSM_STAT_SLOTS);
  }

  ksmGlobal(): number[] {
    this.x.ksm_global();
    return this.numbers(KSM_GLOBAL_SLOTS);
  }

  ksmKnobs(): number[] {
    this.x.ksm_knobs();
    return this.numbers(KSM_KNOB_SLOTS);
  }

  /** The first n numbers of the output buffer. */
  private numbers(n: number): number[] {
    const m = this.view();
    const o = this.outPtr / 8;
    return Array.from(m.subarray(o, o + n));
  }

  /**
   * Let the engine's records grow by at most bytes more, as if linear memory
   * ended there (null: the full 4 GiB again). For tests and for trying what a
   * smaller memory would do: running out gives ENOMEM, as at 4 GiB.
   */
  limitMemory(bytes: number | null): void {
    this.x.heap_limit(bytes === null ? -1 : bytes);
  }

  /**
   * Test hook: use the top guide (assembly/top_guide.ts) for top arrays of
   * minEntries or more (256 by default: ~200k VMAs), built after buildAfter
   * searches it did not serve (2048), so that tests reach it on small trees.
   */
  tuneTopGuide(minEntries: number, buildAfter: number): void {
    this.x.top_guide_tune(minEntries, buildAfter);
  }

  /** Bytes of linear memory the engine's records use. */
  memoryBytes(): number {
    return this.x.engine_bytes();
  }
}
