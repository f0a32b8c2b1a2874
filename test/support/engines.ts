/**
 * One suite, every engine: eachEngine(body) declares body's tests once per
 * engine, in a block named after it, and engine() tells a helper which one
 * is running (the blocks run one after the other). The facade-level engine
 * tests use it, so that the Wasm engine answers every one of them as the
 * reference engine does.
 */
import { beforeAll, describe } from "vitest";
import type { EngineName } from "../../bindings/facade.js";

export const ENGINES: readonly EngineName[] = ["ts", "wasm"];

let current: EngineName = "ts";

/** The engine of the eachEngine block whose tests are running. */
export function engine(): EngineName {
  return current;
}

/** Declares body's describes and tests once per engine. */
export function eachEngine(body: () => void): void {
  for (const e of ENGINES) {
    describe(`${e} engine`, () => {
      beforeAll(() => {
        current = e;
      });
      body();
    });
  }
}
