/// <reference types="vite/client" />
/**
 * KSM on both engines: random KSM scenarios (also under the scan-time
 * advisor, and with processes exiting, mid-pass included), and random VMA scenarios with KSM commands mixed in (knob
 * writes, bad values included; ksm_scan, ksm_run, ksm_stat, ksm_get; writes
 * of every content mode; fork, madvise, munmap, mremap, prctl), give
 * byte-identical reports on the reference engine and the Wasm engine, or
 * stop with the same ScenarioError; after either, both engines hold the same
 * counters, knobs (pages_to_scan included), ksm_stat and VMAs for every
 * process. The KSM scenario files give their .expected on the Wasm engine,
 * and the Wasm engine's checksum and memcmp of page contents are the
 * reference's. VMASIM_KSM_ENGINE_RUNS overrides the number of random
 * scenarios of each kind (default 300 + 300 + 200 + 500). Runs unchanged in the
 * browser project.
 */
import { instantiateSync } from "@assemblyscript/loader";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Simulation } from "../../bindings/facade.js";
import { CORE_WASM_BASE64 } from "../../bindings/generated/core-wasm.js";
import { MAX_MM_PAGES } from "../../bindings/kernel/facts.js";
import { KSM_KNOB_NAMES } from "../../bindings/kernel/kstrto.js";
import { calc_checksum, memcmp_pages } from "../../bindings/reference/ksm_types.js";
import { ScenarioError } from "../../bindings/scenario/commands.js";
import { runScenarioLines, runScenarioOn, simulationFor } from "../../bindings/scenario/run.js";
import { randomKsmScenario } from "../support/random-ksm.js";
import { WINDOW, WINDOW_PAGES, randomScenario } from "../support/random-scenario.js";

// In the browser project there is no process.env: the defaults apply.
const env = typeof process === "undefined" ? undefined : process.env.VMASIM_KSM_ENGINE_RUNS;
const ksmRuns = env === undefined ? 300 : Number(env);
const mixedRuns = env === undefined ? 500 : Number(env);
const advisorRuns = env === undefined ? 200 : Number(env);
const KERNELS = ["6.1", "6.12", "6.16", "6.17", "6.18"] as const;

/** Everything one engine can tell after a scenario: its report (or the error that stopped it) and its final state. */
function outcome(text: string, engine: "ts" | "wasm", kernel: string): string {
  const sim: Simulation = simulationFor({ engine, kernel });
  let report: string;
  try {
    report = runScenarioOn(sim, text).join("\n");
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    report = `ScenarioError: ${e.message}`;
  }
  // The knobs too: under advisor_mode=scan-time pages_to_scan is ksmd's own output.
  const state = [JSON.stringify(sim.ksmStat()), KSM_KNOB_NAMES.map((k) => sim.ksmRead(k)).join(", ")];
  for (const p of sim.processList()) {
    state.push(`${p.name}: ${JSON.stringify(p.ksmStat())} ${p.mapCount}`);
    for (const v of p.views()) state.push(JSON.stringify(v));
  }
  return `${report}\n--- state\n${state.join("\n")}`;
}

function expectSame(text: string, kernel: string): void {
  expect(outcome(text, "wasm", kernel)).toBe(outcome(text, "ts", kernel));
}

// ---- random VMA scenarios with KSM commands mixed in ---------------------------------------------

const hex = (n: number) => `0x${n.toString(16)}`;
const pageAddr = fc.integer({ min: 0, max: WINDOW_PAGES - 1 }).map((p) => hex(WINDOW + p * 4096));
const pageLen = fc.integer({ min: 1, max: 16 }).map((n) => `${n}p`);

/** Values as a knob's parser may see them: good ones for the knob, and any of a list of odd ones. */
const GOOD: Record<string, readonly string[]> = {
  run: ["0", "1", "1", "1", "2"],
  pages_to_scan: ["0", "1", "7", "100", "5000", "4294967295"],
  sleep_millisecs: ["0", "1", "4", "10", "20"],
  max_page_sharing: ["2", "3", "4", "256"],
  use_zero_pages: ["0", "1"],
  smart_scan: ["0", "1"],
  merge_across_nodes: ["0", "1"],
  stable_node_chains_prune_millisecs: ["0", "1", "10", "2000"],
  advisor_mode: ["none", "scan-time", "scan-time"],
  // Wide values too: the advisor's arithmetic wraps at 2^64 and, for pages_to_scan and advisor_max_cpu, at 2^32.
  advisor_target_scan_time: ["1", "2", "200", "18446744073709551615"],
  advisor_min_pages_to_scan: ["1", "500", "100000000", "4294967303"],
  advisor_max_pages_to_scan: ["0", "1000", "30000", "4294967301"],
  advisor_max_cpu: ["0", "10", "70", "4294967366"],
};
const ODD = ["-1", "abc", "0x10", "4294967296", "99999999999999999999", "y", "n", "on", "off", "+5", "1.5", "2147483648", "-2147483648", "none", "scan-time", "3"];

const knobWrite = fc
  .array(
    fc.constantFrom(...KSM_KNOB_NAMES).chain((k) =>
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...GOOD[k]!) }, { weight: 1, arbitrary: fc.constantFrom(...ODD) }).map((v) => `${k}=${v}`),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((s) => `ksm ${s.join(" ")}`);

const content = fc.oneof(
  fc.constantFrom("0", "1", "2", "3", "255", "256", "65536", "0xffffffffffffffff", "0x100000000", "unique", "unique"),
  fc.integer({ min: 1, max: 6 }).map((k) => `cycle ${k}`),
  // K is a full 64-bit number all the way to the engines (2^53 + 1 and 2^64 - 1 must not round).
  fc.constantFrom("cycle 1", "cycle 0xfffffffffffff000", "cycle 9007199254740993", "cycle 0xffffffffffffffff"),
);

type Step = { kind: "line"; text: string } | { kind: "fork" };

const ksmStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: knobWrite },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => `ksm_scan ${n}`) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 4, 20, 50, 120, 300).map((ms) => `ksm_run ${ms}`) },
  { weight: 2, arbitrary: fc.constant("ksm_stat") },
  { weight: 1, arbitrary: fc.constantFrom("ksm_get pages_to_scan", "ksm_get advisor_mode pages_to_scan advisor_max_cpu") },
  { weight: 6, arbitrary: fc.tuple(pageAddr, pageLen, content).map(([a, l, c]) => `write ${a} ${l} ${c}`) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(pageAddr, pageLen, fc.constantFrom("mergeable", "mergeable", "unmergeable", "dontneed", "populate_write"))
      .map(([a, l, v]) => `madvise ${a} ${l} ${v}`),
  },
  { weight: 1, arbitrary: fc.tuple(pageAddr, pageLen).map(([a, l]) => `munmap ${a} ${l}`) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(pageAddr, pageLen, pageLen, pageAddr, fc.constantFrom(" maymove", " fixed", " maymove dontunmap", ""))
      .map(([a, o, n, t, mode]) => (mode === " fixed" ? `mremap ${a} ${o} ${o} fixed ${t}` : `mremap ${a} ${o} ${n}${mode}`)),
  },
  { weight: 1, arbitrary: fc.constantFrom("prctl memory_merge 1", "prctl memory_merge 0") },
  { weight: 1, arbitrary: fc.constantFrom("mmap 0x100000000000 64p rw- private|anon|fixed", "mmap 0x100000010000 16p rw- private|anon|fixed|populate") },
).map((x): Step => ({ kind: "line", text: x }));

const step: fc.Arbitrary<Step> = fc.oneof({ weight: 20, arbitrary: ksmStep }, { weight: 1, arbitrary: fc.constant<Step>({ kind: "fork" }) });

/**
 * A random VMA scenario (wild numbers included) with KSM steps inserted at
 * random lines, usually after a preamble that starts ksmd on a mergeable
 * page outside the window (so that ksm_scan can mostly finish) and fills
 * the window with mergeable pages (sometimes under prctl memory_merge 1),
 * and a ksm_stat of every process at the end.
 */
function mixedScenario(): fc.Arbitrary<string> {
  return fc
    .record({
      base: randomScenario(10, 40, true),
      steps: fc.array(fc.tuple(fc.nat(1000), step), { minLength: 5, maxLength: 25 }),
      preamble: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      zero: fc.constantFrom("0", "1"),
      smart: fc.constantFrom("0", "1"),
      sharing: fc.constantFrom("2", "3", "256"),
      scan: fc.constantFrom("3", "20", "5000"),
      mergeAny: fc.boolean(),
      fill: fc.constantFrom("cycle 2", "cycle 3", "1", "unique"),
    })
    .map(({ base, steps, preamble, zero, smart, sharing, scan, mergeAny, fill }) => {
      const lines = base.split("\n").filter((l) => l !== "");
      // The final block (process X / vmflags per process) stays at the end.
      let tail = lines.length;
      while (tail >= 2 && lines[tail - 1] === "vmflags" && lines[tail - 2]!.startsWith("process ")) tail -= 2;
      const body = lines.slice(0, tail);
      const end = lines.slice(tail);
      const inserts = new Map<number, string[]>();
      let forks = 0;
      for (const [at, s] of steps) {
        const i = body.length === 0 ? 0 : at % (body.length + 1);
        const text = s.kind === "line" ? s.text : forks < 2 ? `fork k${++forks}` : "ksm_stat";
        inserts.set(i, [...(inserts.get(i) ?? []), text]);
      }
      const out: string[] = [];
      if (preamble) {
        out.push(
          `ksm max_page_sharing=${sharing} use_zero_pages=${zero} smart_scan=${smart} pages_to_scan=${scan} sleep_millisecs=10`,
          "mmap 0x100000190000 1p rw- private|anon|fixed", "madvise 0x100000190000 1p mergeable", "write 0x100000190000 1p 1",
          "mmap 0x100000000000 64p rw- private|anon|fixed", "madvise 0x100000000000 64p mergeable", `write 0x100000000000 64p ${fill}`,
          "ksm run=1",
        );
        if (mergeAny) out.push("prctl memory_merge 1");
      }
      for (let i = 0; i <= body.length; i++) {
        out.push(...(inserts.get(i) ?? []));
        if (i < body.length) out.push(body[i]!);
      }
      for (const l of end) {
        out.push(l);
        if (l === "vmflags") out.push("ksm_stat");
      }
      for (let k = 1; k <= forks; k++) out.push(`process k${k}`, "ksm_stat", "vmflags");
      return `${out.join("\n")}\n`;
    });
}

describe("KSM: reference engine vs Wasm engine", () => {
  it(`${ksmRuns} random KSM scenarios give identical reports`, () => {
    fc.assert(
      fc.property(randomKsmScenario(), fc.constantFrom(...KERNELS), (text, kernel) => expectSame(text, kernel)),
      { numRuns: ksmRuns },
    );
  });

  it(`${advisorRuns} random KSM scenarios under the scan-time advisor give identical reports and pages_to_scan`, () => {
    fc.assert(
      fc.property(randomKsmScenario({ advisor: true }), fc.constantFrom(...KERNELS), (text, kernel) => expectSame(text, kernel)),
      { numRuns: advisorRuns },
    );
  });

  it(`${ksmRuns} random KSM scenarios with process exits (also mid-pass) give identical reports`, () => {
    let exits = 0;
    fc.assert(
      fc.property(randomKsmScenario({ exits: "mid-pass" }), fc.constantFrom(...KERNELS), (text, kernel) => {
        exits += text.split("\n").filter((l) => l === "exit").length;
        const ts = outcome(text, "ts", kernel);
        // The generator only makes well-formed scenarios: no exited process is used again.
        expect(ts.startsWith("ScenarioError")).toBe(false);
        expect(outcome(text, "wasm", kernel)).toBe(ts);
      }),
      { numRuns: ksmRuns },
    );
    expect(exits).toBeGreaterThan(ksmRuns / 2);
  });

  it(`${mixedRuns} random VMA scenarios with KSM commands mixed in give identical reports`, () => {
    let stopped = 0;
    fc.assert(
      fc.property(mixedScenario(), fc.constantFrom(...KERNELS), (text, kernel) => {
        const ts = outcome(text, "ts", kernel);
        if (ts.startsWith("ScenarioError")) stopped++;
        expect(outcome(text, "wasm", kernel)).toBe(ts);
      }),
      { numRuns: mixedRuns },
    );
    // Most scenarios must run to the end for the mix to mean anything.
    expect(stopped).toBeLessThan(mixedRuns / 2);
  });

  it("a long run with many merges, chains, forks and unmerges stays identical", () => {
    const text = [
      "ksm max_page_sharing=3 smart_scan=1 pages_to_scan=700 sleep_millisecs=0 use_zero_pages=1",
      "mmap 0x100000000000 3000p rw- private|anon|fixed",
      "madvise 0x100000000000 3000p mergeable",
      "write 0x100000000000 1000p cycle 37",
      "write 0x1000003e8000 1000p unique",
      "write 0x1000007d0000 1000p 0",
      "ksm run=1",
      "ksm_scan 3",
      "ksm_stat",
      "fork child",
      "write 0x100000000000 200p cycle 5",
      "ksm_run 3",
      "ksm_stat",
      "mremap 0x100000000000 500p 500p fixed 0x100010000000",
      "madvise 0x100000100000 300p dontneed",
      "ksm stable_node_chains_prune_millisecs=0",
      "ksm_scan 4",
      "ksm_stat",
      "process main",
      "madvise 0x100000000000 3000p unmergeable",
      "ksm_scan 2",
      "ksm_stat",
      "prctl memory_merge 1",
      "prctl memory_merge 0",
      "ksm run=2",
      "ksm_stat",
      "ksm run=1 max_page_sharing=256",
      "ksm_scan 2",
      "ksm_stat",
    ].join("\n");
    for (const kernel of KERNELS) expectSame(`${text}\n`, kernel);
  });
});

// ---- the KSM scenario files ---------------------------------------------------------------------------

const vms = import.meta.glob(["../scenarios-ksm/*.vms", "../scenarios/ksm/*.vms"], { query: "?raw", import: "default", eager: true }) as Record<
  string,
  string
>;
const expected = import.meta.glob(["../scenarios-ksm/*.expected", "../scenarios/ksm/*.expected"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

function lines(text: string): string[] {
  const l = text.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}

describe("write() with a cycle of 0 values", () => {
  it("is EINVAL on both engines, before any page is looked at, and touches nothing", () => {
    for (const engine of ["ts", "wasm"] as const) {
      const sim = new Simulation({ engine });
      const p = sim.process("a");
      expect(p.mmap(0x100000000000, 0x4000, "rw-", "private|anonymous").ok).toBe(true);
      const before = JSON.stringify(p.ksmStat());
      expect(p.write(0x100000000000, 0x4000, { cycle: 0 })).toEqual({ ok: false, errno: "EINVAL" });
      // Even where nothing is mapped, the bad content is what is reported.
      expect(p.write(0x180000000000, 0x1000, { cycle: 0n })).toEqual({ ok: false, errno: "EINVAL" });
      expect(JSON.stringify(p.ksmStat())).toBe(before);
      expect(p.write(0x100000000000, 0x4000, { cycle: 2n ** 64n - 1n }).ok).toBe(true);
    }
  });
});

describe("the simulated RAM of a process (MAX_MM_PAGES)", () => {
  it("a populate, write or mlock that could not fit is ENOMEM on both engines and changes nothing", () => {
    const hex = (pages: number) => `0x${(pages * 4096).toString(16)}`;
    const text = [
      // 2^32 pages populated at once: once a crash of the reference engine (its page Map overflowed).
      "mmap 0x100000000000 0x100000000000 rw- private|anon|fixed|populate",
      `mmap 0x100000000000 ${hex(MAX_MM_PAGES + 1)} rw- private|anon|fixed`,
      `write 0x100000000000 ${hex(MAX_MM_PAGES + 1)} 1`,
      `mlock 0x100000000000 ${hex(MAX_MM_PAGES + 1)}`,
      `madvise 0x100000000000 ${hex(MAX_MM_PAGES + 1)} populate_write`,
      "write 0x100000000000 4p 1",
      // 4 pages present: a range of MAX - 3 more private writable pages could not fit.
      `write 0x100000000000 ${hex(MAX_MM_PAGES - 3)} 2`,
      `mmap 0x180000000000 ${hex(MAX_MM_PAGES - 3)} rw- private|anon|fixed|populate`,
      // Shared or read-only memory installs no private pages: no limit.
      `mmap 0x180000000000 ${hex(MAX_MM_PAGES)} r-- private|anon|fixed|populate`,
      "mmap 0x1c0000000000 16p rw- private|anon|fixed|populate",
      "maps",
    ].join("\n");
    const ts = runScenarioLines(text, { engine: "ts" });
    expect(runScenarioLines(text, { engine: "wasm" })).toEqual(ts);
    expect(ts.filter((l) => l.startsWith("! "))).toEqual([
      "! 1 mmap ENOMEM",
      "! 3 write ENOMEM",
      "! 4 mlock ENOMEM",
      "! 5 madvise ENOMEM",
      "! 7 write ENOMEM",
      "! 8 mmap ENOMEM",
    ]);
    // The failed calls changed nothing: no mlock (no 'lo'), no writable mapping at 0x180000000000.
    expect(ts.filter((l) => !l.startsWith("! "))).toEqual([
      `100000000000-${(0x100000000000 + (MAX_MM_PAGES + 1) * 4096).toString(16)} rw-p 00000000`,
      `180000000000-${(0x180000000000 + MAX_MM_PAGES * 4096).toString(16)} r--p 00000000`,
      "1c0000000000-1c0000010000 rw-p 00000000",
    ]);
  });
});

describe("the simulated RAM of a process: mprotect of a locked range", () => {
  it("adding write to a locked range populates it: ENOMEM on both engines when it could not fit, and nothing changes", () => {
    const hex = (pages: number) => `0x${(pages * 4096).toString(16)}`;
    const text = [
      // Read-only and locked: mlock installs no private pages.
      `mmap 0x100000000000 ${hex(MAX_MM_PAGES + 1)} r-- private|anon|fixed`,
      `mlock 0x100000000000 ${hex(MAX_MM_PAGES + 1)}`,
      `mprotect 0x100000000000 ${hex(MAX_MM_PAGES + 1)} rw-`,
      "vmflags",
      // A small locked range becomes writable and is populated.
      "mprotect 0x100000000000 4p rw-",
      "vmflags",
    ].join("\n");
    const ts = runScenarioLines(text, { engine: "ts" });
    expect(runScenarioLines(text, { engine: "wasm" })).toEqual(ts);
    expect(ts.filter((l) => l.startsWith("! "))).toEqual(["! 3 mprotect ENOMEM"]);
    const end = (0x100000000000 + (MAX_MM_PAGES + 1) * 4096).toString(16);
    expect(ts.filter((l) => !l.startsWith("! "))).toEqual([
      `100000000000-${end} r--p 00000000 | rd mr mw me lo`,
      "100000000000-100000004000 rw-p 00000000 | rd wr mr mw me lo ac",
      `100000004000-${end} r--p 00000000 | rd mr mw me lo`,
    ]);
  });
});

describe("KSM scenario files: the Wasm engine gives .expected", () => {
  const names = Object.keys(vms).sort();
  it("there are KSM scenarios, each with a .expected", () => {
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(names.filter((n) => expected[n.replace(/\.vms$/, ".expected")] === undefined)).toEqual([]);
  });
  for (const name of names) {
    it(name.replace(/^\.\.\//, ""), () => {
      expect(runScenarioLines(vms[name]!, { engine: "wasm" })).toEqual(lines(expected[name.replace(/\.vms$/, ".expected")]!));
    });
  }
});

// ---- the Wasm engine's checksum and memcmp against the reference's BigInt versions ------------------------

interface KsmHooks {
  init(switches: number): void;
  ksm_checksum(lo: number, hi: number): number;
  ksm_memcmp(alo: number, ahi: number, blo: number, bhi: number): number;
}

function hooks(): KsmHooks {
  const bin = atob(CORE_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const x = instantiateSync(new WebAssembly.Module(bytes), {}).exports as unknown as KsmHooks;
  x.init(0);
  return x;
}

const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 300n }),
  fc.constantFrom(0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 0x61c8864680b583ebn, 0x9e3779b97f4a7c15n),
);
const lo = (v: bigint) => Number(v & 0xffffffffn);
const hi = (v: bigint) => Number(v >> 32n);

describe("KSM: the Wasm engine's page checksum and memcmp", () => {
  const x = hooks();
  it("calc_checksum gives the BigInt version's numbers (64-bit wrapping arithmetic)", () => {
    fc.assert(
      fc.property(u64, (v) => {
        expect(x.ksm_checksum(lo(v), hi(v)) >>> 0).toBe(calc_checksum(v));
      }),
      { numRuns: 2000 },
    );
    // 0 is never a checksum.
    for (let v = 0n; v < 1000n; v++) expect(x.ksm_checksum(lo(v), hi(v))).not.toBe(0);
  });

  it("memcmp_pages compares the bytes from the least significant one up", () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        expect(x.ksm_memcmp(lo(a), hi(a), lo(b), hi(b))).toBe(memcmp_pages(a, b));
      }),
      { numRuns: 2000 },
    );
    expect(x.ksm_memcmp(0x100, 0, 0x1, 0)).toBe(-1);
    expect(x.ksm_memcmp(0x1ff, 0, 0x2fe, 0)).toBe(1);
  });
});
