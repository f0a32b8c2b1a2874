/**
 * The scan-time advisor's arithmetic (bindings/reference/ksm_advisor.ts,
 * after mm/ksm.c scan_time_advisor()) on worked numbers, and through the
 * facade: when it runs, what it reads (the clock and ksmd's CPU time) and
 * the knob writes around it. The Wasm engine's copy is held to the same
 * numbers by test/conformance/engines-ksm.test.ts and the scenario file
 * test/scenarios/ksm/advisor-scan-time.vms.
 */
import { describe, expect, it } from "vitest";
import { Simulation } from "../../bindings/facade.js";
import type { KsmKnobName } from "../../bindings/kernel/kstrto.js";
import {
  AdvisorCtx, type AdvisorKnobs, advisor_start_scan, advisor_stop_scan, ewma, prev_scan_time, scan_time_advisor,
  set_advisor_defaults,
} from "../../bindings/reference/ksm_advisor.js";

const S = 1000; // ms
const CPU_S = 1_000_000_000n; // ns

function knobs(over: Partial<AdvisorKnobs> = {}): AdvisorKnobs {
  return {
    pages_to_scan: 500, advisor_mode: 1, advisor_target_scan_time: 200, advisor_min_pages_to_scan: 500,
    advisor_max_pages_to_scan: 30000, advisor_max_cpu: 70, ...over,
  };
}

/** One advisor step over a pass of `seconds` (from clock 0) that cost `cpu` ns, from a fresh context. */
function firstStep(k: AdvisorKnobs, seconds: number, cpu: bigint, ctx = new AdvisorCtx()): AdvisorCtx {
  advisor_start_scan(k, ctx, 0);
  scan_time_advisor(k, ctx, seconds * S, cpu);
  return ctx;
}

describe("ewma() and prev_scan_time()", () => {
  it("ewma weighs the old value 70 % and the new one 30 %, truncating", () => {
    expect(ewma(0n, 100n)).toBe(30n);
    expect(ewma(30n, 100n)).toBe(51n);
    expect(ewma(100n, 100n)).toBe(100n);
    expect(ewma(1n, 1n)).toBe(1n);
    expect(ewma(0n, 3n)).toBe(0n);
  });

  it("prev_scan_time takes the previous pass's time, or this one's on the first step", () => {
    const ctx = new AdvisorCtx();
    expect(prev_scan_time(ctx, 7n)).toBe(7n);
    ctx.scan_time = 100n;
    expect(prev_scan_time(ctx, 7n)).toBe(100n);
  });
});

describe("scan_time_advisor() on worked numbers", () => {
  it("first step after enabling: the change factor is EWMA(0, 100) = 30, so the estimate is multiplied by 0.3", () => {
    // 100 s pass, target 200 s: factor 200, 10000 * 100 / 200 = 5000, * 30 / 100 = 1500.
    // CPU 67 s over 100 s = 67 %: per-page cost 10000 / 67 = 149, floor 1490, cap 149 * 70 = 10430.
    const k = knobs({ pages_to_scan: 10000 });
    const ctx = firstStep(k, 100, 67n * CPU_S);
    expect(k.pages_to_scan).toBe(1500);
    expect([ctx.change, ctx.scan_time, ctx.cpu_time]).toEqual([30n, 100n, 67n * CPU_S]);
    // Second step, same pass time and CPU again: change EWMA(30, 100) = 51; 1500 * 100 / 200 = 750, * 51 / 100 = 382;
    // per-page cost 1500 / 67 = 22: floor 220, cap 1540.
    advisor_start_scan(k, ctx, 100 * S);
    scan_time_advisor(k, ctx, 200 * S, 134n * CPU_S);
    expect(k.pages_to_scan).toBe(382);
    expect(ctx.change).toBe(51n);
  });

  it("the CPU floor is per-page cost x 10: a light pass (1 % CPU) multiplies pages_to_scan by 10", () => {
    // 1 s pass (80 ms counts as 1 s), 4 ms of CPU: 0 % -> 1 %; per-page cost 500, floor 5000; the estimate is 0.
    const k = knobs();
    firstStep(k, 0.08, 4_040_000n);
    expect(k.pages_to_scan).toBe(5000);
  });

  it("the first step counts ksmd's whole lifetime CPU (the context starts at 0): 504 ms over 1 s is 50 %, floor 100", () => {
    const k = knobs();
    firstStep(k, 0.08, 504_040_000n);
    expect(k.pages_to_scan).toBe(100);
  });

  it("advisor_max_pages_to_scan caps the result, after the floor", () => {
    const k = knobs({ pages_to_scan: 5000 });
    firstStep(k, 0.05, 2_000_000n);
    expect(k.pages_to_scan).toBe(30000);
    const k2 = knobs({ pages_to_scan: 5000, advisor_max_pages_to_scan: 1234 });
    firstStep(k2, 0.05, 2_000_000n);
    expect(k2.pages_to_scan).toBe(1234);
  });

  it("advisor_max_cpu caps the estimate at per-page cost x max_cpu", () => {
    // 400 s pass, target 200: factor 50, 10000 * 100 / 50 = 20000, * 0.3 = 6000. CPU 320 s / 400 s = 80 %: per-page cost 125.
    const capped = knobs({ pages_to_scan: 10000, advisor_max_cpu: 20 });
    firstStep(capped, 400, 320n * CPU_S);
    expect(capped.pages_to_scan).toBe(2500); // 125 * 20 (the floor 1250 is lower)
    const free = knobs({ pages_to_scan: 10000 });
    firstStep(free, 400, 320n * CPU_S);
    expect(free.pages_to_scan).toBe(6000); // 125 * 70 = 8750 is above the estimate
  });

  it("a pass shorter than 1 s counts as 1 s; seconds truncate (1999.999 ms is 1 s, 2000 ms is 2 s)", () => {
    // target 1 s: factor 100 / T; light CPU; cap at 10 pages so only scan_time shows through ctx.
    for (const [ms, t] of [[0, 1n], [999.999, 1n], [1999.999, 1n], [2000, 2n], [2999.999, 2n]] as const) {
      const k = knobs({ advisor_target_scan_time: 1 });
      const ctx = new AdvisorCtx();
      advisor_start_scan(k, ctx, 0.3);
      scan_time_advisor(k, ctx, 0.3 + ms, 0n);
      expect(ctx.scan_time, `${ms} ms`).toBe(t);
    }
  });

  it("pages_to_scan * 100 is computed in 32 bits (unsigned int), as in the kernel", () => {
    // 10^8 * 100 = 10^10 wraps to 1410065408; T = target = 200 s: factor 100; * 0.3 = 4230196.
    // CPU 2000 s over 200 s = 1000 %: per-page cost 10^5, floor 10^6, cap 7 * 10^6 (without the wrap: 7 * 10^6).
    const k = knobs({ pages_to_scan: 100_000_000, advisor_max_pages_to_scan: 2 ** 40 });
    firstStep(k, 200, 2000n * CPU_S);
    expect(k.pages_to_scan).toBe(4230196);
  });

  it("the unsigned long result stored in the unsigned int pages_to_scan keeps its low 32 bits", () => {
    // Light CPU: floor 4e9 * 10 = 4e10, capped by advisor_max_pages_to_scan = 2^32 + 5, stored as 5.
    const k = knobs({ pages_to_scan: 4_000_000_000, advisor_max_pages_to_scan: 2 ** 32 + 5 });
    firstStep(k, 1, 0n);
    expect(k.pages_to_scan).toBe(5);
  });

  it("advisor_max_pages_to_scan = 0 sets pages_to_scan to 0 (ksmd then stops scanning)", () => {
    const k = knobs({ advisor_max_pages_to_scan: 0 });
    firstStep(k, 1, 0n);
    expect(k.pages_to_scan).toBe(0);
  });
});

describe("set_advisor_defaults(), advisor_start_scan(), advisor_stop_scan()", () => {
  it("scan-time zeroes the context and starts from advisor_min_pages_to_scan (its low 32 bits); none restores 100 and keeps the context", () => {
    const ctx = new AdvisorCtx();
    Object.assign(ctx, { start_scan: 5, scan_time: 3n, change: 40n, cpu_time: 9n });
    const k = knobs({ advisor_min_pages_to_scan: 2 ** 32 + 7 });
    set_advisor_defaults(k, ctx);
    expect(k.pages_to_scan).toBe(7);
    expect([ctx.start_scan, ctx.scan_time, ctx.change, ctx.cpu_time]).toEqual([0, 0n, 0n, 0n]);
    Object.assign(ctx, { scan_time: 3n });
    const off = knobs({ advisor_mode: 0 });
    set_advisor_defaults(off, ctx);
    expect(off.pages_to_scan).toBe(100);
    expect(ctx.scan_time).toBe(3n);
  });

  it("with advisor_mode none neither the start nor the end of a pass does anything", () => {
    const k = knobs({ advisor_mode: 0, pages_to_scan: 77 });
    const ctx = new AdvisorCtx();
    advisor_start_scan(k, ctx, 123);
    advisor_stop_scan(k, ctx, 5000, 10n * CPU_S);
    expect(ctx.start_scan).toBe(0);
    expect(ctx.scan_time).toBe(0n);
    expect(k.pages_to_scan).toBe(77);
  });
});

describe("the advisor in ksmd (both engines, through the facade)", () => {
  function sim(engine: "ts" | "wasm"): Simulation {
    const s = new Simulation({ engine });
    for (const [key, v] of [["smart_scan", "0"], ["sleep_millisecs", "20"], ["run", "1"]] as const) s.ksmWrite(key as KsmKnobName, v);
    const p = s.process("main");
    p.mmap(0x100000000000, 2000 * 4096, "rw-", "private|anon|fixed");
    p.madvise(0x100000000000, 2000 * 4096, "mergeable");
    p.write(0x100000000000, 2000 * 4096, { cycle: 4n });
    return s;
  }

  for (const engine of ["ts", "wasm"] as const) {
    it(`${engine}: pages_to_scan moves only at pass ends, and reading it shows the new value`, () => {
      const s = sim(engine);
      expect(s.ksmWrite("advisor_mode", "scan-time").ok).toBe(true);
      expect(s.ksmRead("advisor_mode")).toBe("none [scan-time]");
      expect(s.ksmRead("pages_to_scan")).toBe("500");
      s.ksmRun(60); // 3 batches of 500 pages: the pass (5 batches) is not over
      expect(s.ksmRead("pages_to_scan")).toBe("500");
      expect(s.ksmScan(1)).toBe(true);
      expect(s.ksmRead("pages_to_scan")).toBe("5000");
      expect(s.ksmWrite("pages_to_scan", "7")).toEqual({ ok: false, errno: "EINVAL" });
      expect(s.ksmWrite("advisor_mode", "none").ok).toBe(true);
      expect(s.ksmRead("pages_to_scan")).toBe("100");
    });

    it(`${engine}: enabled mid-pass, the first step measures from time 0 (the zeroed context's start)`, () => {
      const s = sim(engine);
      // 60 s of ksmd off, then a pass begun under advisor none (2 of its 5 batches); the mode is switched on mid-pass.
      s.ksmWrite("run", "0");
      s.ksmRun(60_000);
      s.ksmWrite("run", "1");
      s.ksmWrite("pages_to_scan", "500");
      s.ksmRun(40);
      s.ksmWrite("advisor_target_scan_time", "1");
      s.ksmWrite("advisor_mode", "scan-time");
      expect(s.ksmScan(1)).toBe(true);
      // T = 60 s (from clock 0), target 1: factor 100 / 60 = 1, 500 * 100 = 50000, * 0.3 = 15000 (CPU ~0 %: floor 5000,
      // cap 35000). Measured from the pass's own start (< 1 s) it would have been the floor, 5000.
      expect(s.ksmRead("pages_to_scan")).toBe("15000");
    });

    it(`${engine}: advisor_max_cpu shows the low 32 bits of what was written`, () => {
      const s = sim(engine);
      expect(s.ksmWrite("advisor_max_cpu", "4294967366").ok).toBe(true);
      expect(s.ksmRead("advisor_max_cpu")).toBe("70");
      expect(s.ksmWrite("advisor_max_pages_to_scan", "18446744073709551615").ok).toBe(true);
      expect(s.ksmRead("advisor_max_pages_to_scan")).toBe("18446744073709551615");
    });
  }
});
