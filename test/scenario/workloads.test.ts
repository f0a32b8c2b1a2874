/**
 * The workload generator's random numbers: XorShift.int(lo, hi) must be
 * lo + next() % (hi - lo + 1) exactly (the scenarios the workloads write and
 * the benchmarks' toggles depend on the sequence; the C harness computes the
 * same), whatever the range: small, near 2^32, above it, or empty.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Simulation } from "../../bindings/facade.js";
import { AlternatingProt, XorShift } from "../../bindings/scenario/workloads.js";

describe("XorShift", () => {
  it("int(lo, hi) is lo + next() % (hi - lo + 1) for any seed and range", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: -1e6, max: 1e6 }),
        fc.oneof(fc.integer({ min: -3, max: 100 }), fc.integer({ min: 0, max: 2 ** 33 }), fc.constantFrom(2 ** 32 - 1, 2 ** 32, 2 ** 31, 2 ** 31 - 1)),
        (seed, lo, span) => {
          const a = new XorShift(seed);
          const b = new XorShift(seed);
          for (let k = 0; k < 50; k++) {
            const want = lo + (b.next() % (span + 1));
            expect(Object.is(a.int(lo, lo + span), want)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps the sequence the scenarios were written with (seed 1)", () => {
    const r = new XorShift(1);
    expect([r.next(), r.next(), r.next()]).toEqual([270369, 67634689, 2647435461]);
    expect(new XorShift(1).int(0, 999_999)).toBe(270369);
  });
});

describe("AlternatingProt", () => {
  it("toggles(count) queues the same calls as count toggle()s, and leaves the generator where they do", () => {
    const n = 500;
    const spaces = [0, 1].map(() => {
      const sim = new Simulation({ engine: "ts" });
      const p = sim.process("main");
      const b = sim.batch();
      const w = new AlternatingProt(n, 5);
      w.map(p, b, () => b.runRaw());
      b.runRaw();
      return { p, b, w };
    });
    const [one, bulk] = spaces as [(typeof spaces)[0], (typeof spaces)[0]];
    for (const count of [1, 700, 3, 1200]) {
      for (let k = 0; k < count; k++) one.w.toggle(one.p, one.b);
      bulk.w.toggles(bulk.p, bulk.b, count);
      expect(Array.from(bulk.b.runRaw())).toEqual(Array.from(one.b.runRaw()));
      expect(bulk.p.vmas()).toEqual(one.p.vmas());
    }
    expect(one.p.mapCount).toBeGreaterThan(n / 4);
  });
});
