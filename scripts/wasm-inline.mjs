#!/usr/bin/env node
// Re-optimize the Wasm engine with more inlining than asc allows.
//
// asc's optimize() fixes Binaryen's inlining limits (at -O3: functions of up
// to 70 expressions, 200 if called once, 12 always). The engine's hot
// paths are chains of small kernel-named functions (mprotect -> vma_modify
// -> vma_merge_existing_range -> can_vma_merge_left -> ...), kept small on
// purpose so that they read like mm/vma.c; inlining them into their callers
// is the compiler's job. So this step reads the module asc wrote as text
// (build/core.wat: the binary has no names), raises the limits, optimizes
// it again with asc's levels, and writes build/core.wasm and build/core.wat
// (the text keeps the function names, in the binary's order, for profiles:
// V8 names a Wasm function by its index).
//
// Measured side by side (npm run bench:ab, 1M VMAs): ~4-7% less time a
// random toggle than asc's limits; the others tried: docs/wasm-engine.md.
//
// Usage: node scripts/wasm-inline.mjs build/core.wat build/core.wasm

import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

const [watIn, wasmOut] = process.argv.slice(2);
if (!watIn || !wasmOut) {
  console.error("usage: node scripts/wasm-inline.mjs IN.wat OUT.wasm (OUT.wat is written beside it)");
  process.exit(2);
}

/** Inlining limits, in Binaryen expressions. */
const LIMITS = { flexible: 500, oneCaller: 5000, always: 50 };

const module = binaryen.parseText(readFileSync(watIn, "utf8"));
module.setFeatures(binaryen.Features.All);
binaryen.setOptimizeLevel(3);
binaryen.setShrinkLevel(0);
binaryen.setDebugInfo(false);
binaryen.setFlexibleInlineMaxSize(LIMITS.flexible);
binaryen.setOneCallerInlineMaxSize(LIMITS.oneCaller);
binaryen.setAlwaysInlineMaxSize(LIMITS.always);
binaryen.setAllowInliningFunctionsWithLoops(true);
// Twice: the first round's inlining exposes more to simplify and inline.
module.optimize();
module.optimize();
if (!module.validate()) {
  console.error("wasm-inline: the optimized module does not validate");
  process.exit(1);
}
writeFileSync(wasmOut, module.emitBinary());
writeFileSync(wasmOut.replace(/\.wasm$/, ".wat"), module.emitText());
module.dispose();
