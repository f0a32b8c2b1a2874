/**
 * A browser module worker that runs a scenario on the Wasm engine from a
 * compiled module it is handed and posts the report back (index.test.ts;
 * the Node side builds the same worker from the compiled JS).
 */
import { runScenarioLines } from "../../bindings/index.js";

interface Job {
  readonly text: string;
  readonly module: WebAssembly.Module;
}

self.onmessage = (ev: MessageEvent<Job>) => {
  let report: string[] | string;
  try {
    report = runScenarioLines(ev.data.text, { engine: "wasm", wasm: ev.data.module });
  } catch (e) {
    report = String(e);
  }
  self.postMessage(report);
};
