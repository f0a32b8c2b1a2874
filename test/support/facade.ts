/** Helpers of the facade-level tests: window addresses, result unwrapping, a KSM-ready simulation. */
import { Simulation, type SysResult } from "../../bindings/facade.js";
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
