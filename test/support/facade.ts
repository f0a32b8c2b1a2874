/** Helpers of the facade-level tests: window addresses, result unwrapping, a KSM-ready simulation. */
import { type AddressSpace, Simulation, type SysResult } from "../../bindings/facade.js";
import { expect } from "vitest";
import type { KsmKnobName } from "../../bindings/kernel/kstrto.js";
import { engine } from "./engines.js";

/** The report window's first byte. */
export const W = 0x100000000000;
export const P = 4096;
/** The byte address of window page n. */
export const a = (n: number): number => W + n * P;

/** The value of a successful call (a failure throws, naming the errno). */
export function ok<T>(r: SysResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.errno}`);
  return r.value;
}

/** "ok" or the errno name. */
export function errno(r: SysResult<unknown>): string {
  return r.ok ? "ok" : r.errno;
}

/**
 * A simulation on the running engine (eachEngine) with ksmd running (run=1),
 * smart scan off and a batch large enough for one pass, unless knobs say
 * otherwise (written in their order).
 */
export function ksmSim(knobs: Record<string, string> = {}): Simulation {
  const sim = new Simulation({ engine: engine() });
  const all: Record<string, string> = { smart_scan: "0", pages_to_scan: "5000", sleep_millisecs: "20", ...knobs };
  if (!("run" in knobs)) all.run = "1";
  for (const [k, v] of Object.entries(all)) ok(sim.ksmWrite(k as KsmKnobName, v));
  return sim;
}

/** A simulation on the running engine (eachEngine), of kernel if given, and its process "main". */
export function sim(kernel?: string): { sim: Simulation; p: AddressSpace } {
  const s = new Simulation(kernel === undefined ? { engine: engine() } : { engine: engine(), kernel });
  return { sim: s, p: s.process("main") };
}

/** The call failed with errno. */
export function fails(r: SysResult<unknown>, errno: string): void {
  expect(r.ok ? `ok (${String(r.value)})` : r.errno).toBe(errno);
}

/** mmap anonymous private memory at window page `start` (MAP_FIXED). */
export function anon(p: AddressSpace, start: number, pages: number, prot = "rw-", extra = ""): void {
  ok(p.mmap(a(start), pages * P, prot, `private|anon|fixed${extra}`));
}

/** The window's VMAs as [startPage, endPage) pairs. */
export function layout(p: AddressSpace): [number, number][] {
  return p.vmas().map((v) => [(v.start - W) / P, (v.end - W) / P]);
}

/** The VMA containing window page n. */
export function at(p: AddressSpace, n: number) {
  const v = p.vmas().find((x) => x.start <= a(n) && a(n) < x.end);
  if (v === undefined) throw new Error(`no VMA at page ${n}`);
  return v;
}

export const has = (flags: number, bit: number): boolean => (flags & bit) !== 0;
