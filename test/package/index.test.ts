/**
 * The package's public entry (bindings/index.ts) as embedders use it, in
 * Node and in the browser project: the documented names are there, the Wasm
 * engine runs from a compiled module or the .wasm bytes handed in
 * (SimulationOptions.wasm) exactly as from its embedded copy, and a module
 * worker given the compiled module reports the same.
 */
import { describe, expect, it } from "vitest";
import * as vmasim from "../../bindings/index.js";
import { PACKAGE_SCENARIO } from "./scenario.js";

const inBrowser = typeof window !== "undefined";

/** build/core.wasm (npm test builds it first): fetched from the dev server in the browser, read from disk in Node. */
async function coreWasm(): Promise<Uint8Array<ArrayBuffer>> {
  if (inBrowser) return new Uint8Array(await (await fetch("/build/core.wasm")).arrayBuffer());
  const { readFileSync } = await import("node:fs");
  return new Uint8Array(readFileSync(new URL("../../build/core.wasm", import.meta.url)));
}

describe("the public entry", () => {
  it("exports the facade, the scenario runner and the kernel presets", () => {
    for (const name of ["Simulation", "Batch", "AddressSpace", "runScenario", "runScenarioLines", "parseScenario", "ksmReport", "resolveKernel"]) {
      expect(typeof (vmasim as Record<string, unknown>)[name], name).toBe("function");
    }
    expect(Object.keys(vmasim.KERNEL_PRESETS)).toContain(vmasim.DEFAULT_KERNEL);
    expect(() => vmasim.runScenarioLines("mmap nowhere\n")).toThrow(vmasim.ScenarioError);
  });

  it("the Wasm engine runs from a compiled module or the .wasm bytes as from its embedded copy", async () => {
    const bytes = await coreWasm();
    const module = await WebAssembly.compile(bytes);
    const embedded = vmasim.runScenarioLines(PACKAGE_SCENARIO, { engine: "wasm" });
    expect(embedded.some((l) => l.startsWith("pages_sharing "))).toBe(true);
    expect(vmasim.runScenarioLines(PACKAGE_SCENARIO, { engine: "wasm", wasm: module })).toEqual(embedded);
    expect(vmasim.runScenarioLines(PACKAGE_SCENARIO, { engine: "wasm", wasm: bytes })).toEqual(embedded);
    expect(vmasim.runScenarioLines(PACKAGE_SCENARIO, { engine: "ts" })).toEqual(embedded);
    // One compiled module serves several simulations at once, each with its own memory.
    const a = new vmasim.Simulation({ engine: "wasm", wasm: module });
    const b = new vmasim.Simulation({ engine: "wasm", wasm: module });
    a.process("main").mmap(0x100000000000, 4096, "rw-", "private|anon|fixed");
    expect(a.process("main").mapCount).toBe(1);
    expect(b.process("main").mapCount).toBe(0);
  });

  it("a worker handed the compiled module gives the same report", async () => {
    const module = await WebAssembly.compile(await coreWasm());
    const expected = vmasim.runScenarioLines(PACKAGE_SCENARIO, { engine: "wasm" });
    let got: unknown;
    if (inBrowser) {
      const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      got = await new Promise((resolve, reject) => {
        w.onmessage = (ev) => resolve(ev.data);
        w.onerror = (ev) => reject(new Error(ev.message));
        w.postMessage({ text: PACKAGE_SCENARIO, module });
      });
      w.terminate();
    } else {
      // A worker thread loads JavaScript only: the same worker, on the compiled entry (npm test builds it).
      const { Worker } = await import("node:worker_threads");
      const entry = new URL("../../build/js/bindings/index.js", import.meta.url).href;
      const code = `import { parentPort } from "node:worker_threads";
import { runScenarioLines } from ${JSON.stringify(entry)};
parentPort.on("message", (job) => {
  let report;
  try { report = runScenarioLines(job.text, { engine: "wasm", wasm: job.module }); } catch (e) { report = String(e); }
  parentPort.postMessage(report);
});`;
      const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
      got = await new Promise((resolve, reject) => {
        w.once("message", resolve);
        w.once("error", reject);
        w.postMessage({ text: PACKAGE_SCENARIO, module });
      });
      await w.terminate();
    }
    expect(got).toEqual(expected);
  });
});
