// Bundles the JS that `tsc -p tsconfig.build.json` emitted (run `npm run build`
// first) into one ES module, dist/index.js, and ships build/core.wasm beside it
// as dist/core.wasm for users who pass the file to the facade's `source` option.
// No TS or wasm plugins: the wasm is already embedded (bindings/generated/core-wasm.ts).
// Not used by the tests.
import { existsSync, readFileSync } from "node:fs";

const emitCoreWasm = {
  name: "emit-core-wasm",
  generateBundle() {
    // Absent until assembly/index.ts exists.
    if (!existsSync("build/core.wasm")) return;
    this.emitFile({ type: "asset", fileName: "core.wasm", source: readFileSync("build/core.wasm") });
  },
};

export default {
  input: "build/js/bindings/index.js",
  // The loader stays a runtime dependency (toolchain notes §1.9); node: builtins
  // must never be bundled.
  external: ["@assemblyscript/loader", /^node:/],
  output: { file: "dist/index.js", format: "es", sourcemap: true },
  plugins: [emitCoreWasm],
};
