/**
 * vmasim's public entry, for programs that embed it (package.json "exports";
 * rollup bundles it into dist/index.js). Everything here runs the same in
 * Node, in browsers and in workers: the live-kernel and boot harnesses
 * (bindings/harness/, Node only) are not part of it.
 */
export {
  AddressSpace, Batch, FileHandle, Simulation, createEngine,
  type EngineName, type KsmGlobalStat, type KsmProcessStat, type MremapOptions, type PageContent, type SimulationOptions,
  type SysResult, type Vma,
} from "./facade.js";
export type { Engine } from "./engine.js";
export type { CoreSource } from "./wasm/engine.js";
export { DEFAULT_KERNEL, KERNEL_PRESETS, KernelSwitchError, type KernelSwitches, type SwitchName, resolveKernel } from "./kernel/versions.js";
export { ScenarioError } from "./scenario/commands.js";
export { parseScenario } from "./scenario/parse.js";
export { type RunOptions, runScenario, runScenarioLines, runScenarioOn, simulationFor } from "./scenario/run.js";
export { ksmReport } from "./scenario/ksm_report.js";
