/**
 * Differential test: random scenarios (every VMA command, several processes,
 * fork, and exits in a second run) give byte-identical reports on the reference engine and the Wasm
 * engine. VMASIM_ENGINE_RUNS overrides the count (default 1000).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AddressSpace, type Batch, Simulation } from "../../bindings/facade.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { XorShift } from "../../bindings/scenario/workloads.js";
import type { WasmEngine } from "../../bindings/wasm/engine.js";
import { randomScenario } from "../support/random-scenario.js";

// In the browser project there is no process.env: the default applies.
const env = typeof process === "undefined" ? undefined : process.env.VMASIM_ENGINE_RUNS;
const runs = Number(env ?? 1000);

describe("reference engine vs Wasm engine", () => {
  it(`${runs} random scenarios give identical reports`, () => {
    fc.assert(
      fc.property(randomScenario(10, 40, true), fc.constantFrom("6.1", "6.12", "6.16", "6.17", "6.18"), (text, kernel) => {
        expect(runScenarioLines(text, { engine: "wasm", kernel }).join("\n")).toBe(runScenarioLines(text, { engine: "ts", kernel }).join("\n"));
      }),
      { numRuns: runs },
    );
  });

  it(`${runs} random scenarios with processes exiting give identical reports`, () => {
    let exits = 0;
    fc.assert(
      fc.property(randomScenario(10, 40, true, true), fc.constantFrom("6.1", "6.12", "6.16", "6.17", "6.18"), (text, kernel) => {
        exits += text.split("\n").filter((l) => l === "exit").length;
        expect(runScenarioLines(text, { engine: "wasm", kernel }).join("\n")).toBe(runScenarioLines(text, { engine: "ts", kernel }).join("\n"));
      }),
      { numRuns: runs },
    );
    expect(exits).toBeGreaterThan(runs / 5);
  });
});

/**
 * An address space past the size from which the Wasm engine warms each
 * batch's tree paths before running it (assembly/warm.ts, 2^14 VMAs): the
 * warming only loads, so every result and the final VMAs must still equal
 * the reference engine's, with commands in one batch that change the very
 * leaves the batch warmed.
 */
const BASE = 0x100000000000;
const PAGE = 4096;
/** Pages of the big address space: runs of 2 pages alternating rw-/r--, 150k VMAs. */
const BIG = 300_000;

/**
 * Build an address space of `pages` pages (BIG unless given) on each
 * engine, hand its batch to `calls` (which queues calls and runs the batch
 * when it likes, pushing what runRaw() returns), and require identical
 * results, VMA count and VMAs.
 */
function sameOnSpace(calls: (p: AddressSpace, b: Batch, results: number[]) => void, pages = BIG, guided = false): void {
  const run = (engine: "ts" | "wasm") => {
    const sim = new Simulation({ engine });
    // The top guide (assembly/top_guide.ts) serves only top arrays of 256 inner nodes (~200k VMAs and more):
    // here it is built for any, as soon as one search goes without it, so that it is rebuilt after every change.
    if (guided && engine === "wasm") (sim.engine as WasmEngine).tuneTopGuide(2, 1);
    sim.maxMapCount = pages + 65530;
    const p = sim.process("main");
    const b = sim.batch();
    for (let i = 0; i < pages; i++) {
      b.mmap(p, BASE + i * PAGE, PAGE, (i >> 1) & 1 ? 1 : 3, 0x22 | 0x10);
      if (b.length === 65536) b.runRaw();
    }
    b.runRaw();
    const results: number[] = [];
    calls(p, b, results);
    results.push(...b.runRaw());
    return { results, count: p.mapCount, vmas: JSON.stringify(p.vmas(BASE - 16 * PAGE, BASE + (pages + 16) * PAGE)) };
  };
  const wasm = run("wasm");
  const ts = run("ts");
  expect(wasm.count).toBeGreaterThan(1 << 14);
  expect(wasm.results.filter((r) => r < 0).length).toBeGreaterThan(0);
  expect(wasm.results).toEqual(ts.results);
  expect(wasm.count).toBe(ts.count);
  expect(wasm.vmas === ts.vmas).toBe(true);
}

describe("reference engine vs Wasm engine on a big address space", () => {
  /** 6000 batched calls of every one-address kind at random places of a space of `pages` pages. */
  const everyKind = (pages: number) => (p: AddressSpace, b: Batch, results: number[]) => {
    const rng = new XorShift(7);
    for (let k = 0; k < 6000; k++) {
      const addr = BASE + rng.int(-4, pages + 4) * PAGE;
      const len = rng.int(1, 3) * PAGE;
      const kind = rng.int(0, 9);
      if (kind < 6) b.mprotect(p, addr, len, rng.int(0, 1) ? 1 : 3);
      else if (kind === 6) b.munmap(p, addr, len);
      else if (kind === 7) b.mmap(p, addr, len, rng.int(0, 1) ? 1 : 3, 0x22 | 0x10);
      else if (kind === 8) b.madvise(p, addr, len, rng.int(0, 1) ? "dontfork" : "dofork");
      else b.write(p, addr, len);
      if (b.length === 100) results.push(...b.runRaw());
    }
  };

  it("150k VMAs, 6000 batched calls of every one-address kind: identical results and VMAs", () => {
    sameOnSpace(everyKind(BIG));
  });

  it("150k VMAs, the same calls with the top guide serving the top array: identical results and VMAs", () => {
    sameOnSpace(everyKind(BIG), BIG, true);
  });

  // A hole punched at the end of an inner node's range lowers that node's
  // top key in place (no entry moves, so the guide is not rebuilt); calls
  // and lookups in the hole must not trust the guide's stale bucket. The
  // space is built in address order, so inner node 0 ends at page 3200:
  // a hole every 37 pages crosses it.
  it("150k VMAs, holes punched across inner nodes' ends, then calls and lookups in them, top guide serving: identical results and VMAs", () => {
    sameOnSpace(
      (p, b, results) => {
        const rng = new XorShift(5);
        for (let s = 0; s < 8000; s += 37) {
          b.munmap(p, BASE + s * PAGE, 24 * PAGE);
          results.push(...b.runRaw());
          for (let k = 0; k < 6; k++) b.mprotect(p, BASE + (s + rng.int(-2, 26)) * PAGE, PAGE, rng.int(0, 1) ? 1 : 3);
          for (let k = 0; k < 4; k++) b.mmap(p, BASE + (s + rng.int(0, 23)) * PAGE, PAGE, rng.int(0, 1) ? 1 : 3, 0x22 | 0x10);
          results.push(...b.runRaw());
          for (let k = -2; k < 27; k += 2) results.push(p.findVma(BASE + (s + k) * PAGE)?.start ?? -1);
        }
      },
      BIG,
      true,
    );
  });

  // The other way: a top key raised in place past the next node's old key
  // (a hole across two inner nodes' ranges, then the first node's last VMA
  // grown back into it by a merging mmap), so that a bucket's index is past
  // the answer for the pages regrown: the guide must notice and not send the
  // search to the next node.
  it("150k VMAs, a node's last VMA regrown across the next node's old range, then calls and lookups there, top guide serving: identical results and VMAs", () => {
    sameOnSpace(
      (p, b, results) => {
        const rng = new XorShift(9);
        for (let node = 3; node < 9; node++) {
          const end = node * 3200;
          b.munmap(p, BASE + (end - 800) * PAGE, 3000 * PAGE);
          results.push(...b.runRaw());
          // The VMA before the hole is read-only (pages 4k+2, 4k+3 are): the same flags merge.
          b.mmap(p, BASE + (end - 800) * PAGE, 1800 * PAGE, 1, 0x22 | 0x10);
          results.push(...b.runRaw());
          // (Some land in what is left of the hole: ENOMEM.)
          for (let k = 0; k < 24; k++) b.mprotect(p, BASE + (end - 800 + rng.int(0, 2199)) * PAGE, PAGE, rng.int(0, 1) ? 1 : 3);
          results.push(...b.runRaw());
          for (let k = 0; k < 24; k++) results.push(p.findVma(BASE + (end - 800 + rng.int(0, 1799)) * PAGE)?.start ?? -1);
        }
      },
      BIG,
      true,
    );
  });

  // Just above the warming threshold (2^14 VMAs): a top array of a dozen inner nodes.
  it("20k VMAs, the same calls: identical results and VMAs", () => {
    sameOnSpace(everyKind(40_000), 40_000);
  });

  // The path warmed for a command goes stale when an earlier command of its
  // group frees or splits nodes: warm_hint() must notice (tree_hint checks
  // the path is still the tree's) and search from the top instead.
  for (const guided of [false, true]) {
    it(`150k VMAs, batches whose first commands free and split the leaves warmed for the rest${guided ? ", top guide serving" : ""}: identical results and VMAs`, () => {
      sameOnSpace((p, b, results) => {
        const rng = new XorShift(11);
        for (let g = 0; g < 150; g++) {
          // A hole of 100 to 400 pages (50 to 200 VMAs: whole leaves freed), in one group of 32 commands...
          const hole = rng.int(0, BIG - 500);
          const holeLen = rng.int(100, 400);
          const near = () => BASE + (hole + rng.int(-60, holeLen + 60)) * PAGE;
          if (g % 2 === 0) {
            b.munmap(p, BASE + hole * PAGE, holeLen * PAGE);
            // ...then calls in and around it, whose warmed paths went through the freed leaves;
            for (let k = 0; k < 15; k++) b.mprotect(p, near(), rng.int(1, 3) * PAGE, rng.int(0, 1) ? 1 : 3);
            // ...and single pages mapped back into it, alternating, which split the leaves left.
            for (let k = 0; k < 16; k++) b.mmap(p, BASE + (hole + 2 * k) * PAGE, PAGE, k & 1 ? 1 : 3, 0x22 | 0x10);
          } else {
            // Pages split off one by one inside a long run (fills its leaf until it splits), then calls beside them.
            for (let k = 0; k < 24; k++) b.mprotect(p, BASE + (hole + 3 * k) * PAGE, PAGE, k & 1 ? 1 : 3);
            for (let k = 0; k < 8; k++) b.mprotect(p, near(), PAGE, rng.int(0, 1) ? 1 : 3);
          }
          results.push(...b.runRaw());
        }
      }, BIG, guided);
    });
  }
});
