/**
 * What bench/run.ts and bench/ab.ts share: workload (a)'s address space
 * built, and the check that a measured batch's calls all succeeded.
 */
import { type AddressSpace, type Batch, Simulation, type SimulationOptions } from "../bindings/facade.js";
import { AlternatingProt } from "../bindings/scenario/workloads.js";

/** The alternating-prot workload's n pages mapped (AlternatingProt) on a new simulation: its process, batch and toggle generator. */
export function alternatingSpace(options: SimulationOptions, n: number): { sim: Simulation; p: AddressSpace; w: AlternatingProt; b: Batch } {
  const sim = new Simulation(options);
  sim.maxMapCount = n + 65530;
  const p = sim.process("main");
  const b = sim.batch();
  const w = new AlternatingProt(n);
  w.map(p, b, () => b.runRaw());
  b.runRaw();
  if (p.mapCount !== n) throw new Error(`setup: expected ${n} VMAs, got ${p.mapCount}`);
  return { sim, p, w, b };
}

/** A measured batch's calls must all have succeeded (a failing call would measure an error path). */
export function requireSuccess(results: Float64Array, what: string): void {
  const bad = results.findIndex((r) => r < 0);
  if (bad >= 0) throw new Error(`${what}: call ${bad} of the last batch failed with ${results[bad]}`);
}
