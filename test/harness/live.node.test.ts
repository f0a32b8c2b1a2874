/**
 * The live-kernel harness against the running kernel (Linux 6.18 here).
 * Skipped where liveKernelAvailable() says no (not Linux, no smaps, no cc).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { alternatingLayoutHash, kernelAlternatingBench } from "../../bindings/harness/kbench.js";
import { buildHarness, liveKernelAvailable, runOnKernel } from "../../bindings/harness/live.js";
import { Simulation } from "../../bindings/facade.js";
import { AlternatingProt } from "../../bindings/scenario/workloads.js";
import { ScenarioError } from "../../bindings/scenario/commands.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";

const check = liveKernelAvailable();
if (!check.ok) console.warn(`live-kernel harness tests skipped: ${check.reason}`);

const KSM_DIR = "/sys/kernel/mm/ksm";

/** Every writable KSM knob and vm.max_map_count, as the kernel prints them. */
function knobs(): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = readdirSync(KSM_DIR);
  } catch {
    // no KSM
  }
  for (const name of names) {
    const path = join(KSM_DIR, name);
    if ((statSync(path).mode & 0o200) !== 0) out[name] = readFileSync(path, "utf8").trim();
  }
  out["vm.max_map_count"] = readFileSync("/proc/sys/vm/max_map_count", "utf8").trim();
  return out;
}

function tempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith("vmasim-live-"));
}

const run = (lines: string[]): string[] => runOnKernel(lines.join("\n") + "\n");

describe.skipIf(!check.ok)("live kernel harness", () => {
  let before: Record<string, string> = {};

  beforeAll(() => {
    buildHarness();
  });
  beforeEach(() => {
    before = knobs();
  });
  afterEach(() => {
    // The harness must leave the machine's knobs as it found them.
    expect(knobs()).toEqual(before);
  });

  it("an anonymous private mapping is one rw-p VMA", () => {
    expect(run(["mmap 0x100000000000 8p rw- private|anon|fixed", "vmflags", "count"])).toEqual([
      "100000000000-100000008000 rw-p 00000000 | rd wr mr mw me ac",
      "vmas 1",
    ]);
  });

  it("two adjacent anonymous mappings merge", () => {
    expect(
      run(["mmap 0x100000000000 8p rw- private|anon|fixed", "mmap 0x100000008000 8p rw- private|anon|fixed", "maps", "count"]),
    ).toEqual(["100000000000-100000010000 rw-p 00000000", "vmas 1"]);
  });

  it("mprotect of the middle splits into three", () => {
    expect(
      run([
        "mmap 0x100000000000 16p rw- private|anon|fixed",
        "mprotect 0x100000004000 4p r--",
        "count",
        "vmflags",
      ]),
    ).toEqual([
      "vmas 3",
      "100000000000-100000004000 rw-p 00000000 | rd wr mr mw me ac",
      // 6.18 gives the commit charge back when a private mapping loses write: no `ac`.
      "100000004000-100000008000 r--p 00000000 | rd mr mw me",
      "100000008000-100000010000 rw-p 00000000 | rd wr mr mw me ac",
    ]);
  });

  it("reports failed calls with their line and errno, and goes on", () => {
    expect(
      run([
        "# errors",
        "mmap 0x100000000000 8p rw- private|anon|fixed",
        "munmap 0x100000000001 4K",
        "munmap 0x100000000000 0",
        "mmap 0x100000004000 8p rw- private|anon|fixed_noreplace",
        "mmap 0x100000010000 4p r-- private|anon|fixed",
        "write 0x100000010000 4p",
        "mmap 0x100000020000 4p --- private|anon|fixed",
        "read 0x100000020000 1p",
        "echo still here",
        "count",
      ]),
    ).toEqual([
      "! 3 munmap EINVAL",
      "! 4 munmap EINVAL",
      "! 5 mmap EEXIST",
      "! 7 write EFAULT",
      "! 9 read EFAULT",
      "still here",
      "vmas 3",
    ]);
  });

  it("a file mapping shows the scenario's file name and offset; beyond EOF faults", () => {
    expect(
      run([
        "file data 16p",
        "mmap 0x100000000000 4p rw- shared|fixed data 8K",
        "mmap 0x100000010000 4p r-- private|fixed data 14p",
        "write 0x100000000000 4p unique",
        "read 0x100000010000 4p",
        "maps",
      ]),
    ).toEqual([
      "! 5 read EFAULT",
      "100000000000-100000004000 rw-s 00002000 data",
      "100000010000-100000014000 r--p 0000e000 data",
    ]);
  });

  it("/dev/zero: shared is '/dev/zero (deleted)', private keeps the name", () => {
    expect(
      run([
        "open zero /dev/zero",
        "open zero2 /dev/zero",
        "mmap 0x100000000000 4p rw- shared|fixed zero",
        "mmap 0x100000010000 4p rw- private|fixed zero 4p",
        "mmap 0x100000020000 4p rw- shared|anon|fixed",
        "mmap 0x100000030000 4p rw- private|fixed zero2",
        "maps",
      ]),
    ).toEqual([
      "100000000000-100000004000 rw-s 00000000 /dev/zero (deleted)",
      "100000010000-100000014000 rw-p 00004000 zero",
      "100000020000-100000024000 rw-s 00000000 /dev/zero (deleted)",
      "100000030000-100000034000 rw-p 00000000 zero",
    ]);
  });

  it("fork: the child sees the parent's VMAs and then lives its own life", () => {
    expect(
      run([
        "mmap 0x100000000000 8p rw- private|anon|fixed",
        "write 0x100000000000 8p cycle 3",
        "mmap 0x100000100000 2p r-- private|anon|fixed",
        "fork child",
        "maps",
        "munmap 0x100000000000 8p",
        "count",
        "process main",
        "maps",
      ]),
    ).toEqual([
      "100000000000-100000008000 rw-p 00000000",
      "100000100000-100000102000 r--p 00000000",
      "vmas 1",
      "100000000000-100000008000 rw-p 00000000",
      "100000100000-100000102000 r--p 00000000",
    ]);
  });

  it("process switching: a new process starts empty", () => {
    expect(
      run([
        "mmap 0x100000000000 8p rw- private|anon|fixed",
        "process other",
        "count",
        "mmap 0x100000100000 1p rw- private|anon|fixed",
        "maps",
        "process main",
        "maps",
        "process other",
        "count",
      ]),
    ).toEqual([
      "vmas 0",
      "100000100000-100000101000 rw-p 00000000",
      "100000000000-100000008000 rw-p 00000000",
      "vmas 1",
    ]);
  });

  it("exit: the worker really exits (a fork parent's child lives on), and reports of the others still work", () => {
    const lines = [
      "mmap 0x100000000000 8p rw- private|anon|fixed",
      "write 0x100000000000 8p 3",
      "fork child",
      "process main",
      "exit",
      "process child",
      "maps",
      "write 0x100000000000 8p 4",
      "fork grandchild",
      "process child",
      "exit",
      "process other",
      "count",
      "exit",
      "process grandchild",
      "maps",
    ];
    const expected = ["100000000000-100000008000 rw-p 00000000", "vmas 0", "100000000000-100000008000 rw-p 00000000"];
    expect(run(lines)).toEqual(expected);
    expect(runScenarioLines(lines.join("\n"), { engine: "ts" })).toEqual(expected);
    expect(runScenarioLines(lines.join("\n"), { engine: "wasm" })).toEqual(expected);
    expect(() => run(["exit", "maps"])).toThrow(ScenarioError);
    expect(() => run(["process a", "exit", "process a"])).toThrow(ScenarioError);
  });

  it("mremap grows in place", () => {
    expect(run(["mmap 0x100000000000 4p rw- private|anon|fixed", "mremap 0x100000000000 4p 8p", "maps"])).toEqual([
      "100000000000-100000008000 rw-p 00000000",
    ]);
  });

  it("prctl memory_merge 1 makes new anonymous VMAs mergeable (mg), and they still merge", () => {
    const out = run([
      "prctl memory_merge 1",
      "mmap 0x100000000000 8p rw- private|anon|fixed",
      "mmap 0x100000008000 8p rw- private|anon|fixed",
      "vmflags",
      "ksm_stat",
    ]);
    expect(out[0]).toBe("100000000000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg");
    expect(out).toContain("ksm_merge_any yes");
    expect(out).toContain("ksm_mergeable yes");
  });

  it("ksm max_page_sharing=1 is EINVAL and run stays as it was", () => {
    const runBefore = readFileSync(join(KSM_DIR, "run"), "utf8").trim();
    expect(run(["ksm max_page_sharing=1", "ksm run=7 sleep_millisecs=20", "echo ok"])).toEqual([
      "! 1 ksm EINVAL",
      "! 2 ksm EINVAL",
      "ok",
    ]);
    expect(readFileSync(join(KSM_DIR, "run"), "utf8").trim()).toBe(runBefore);
  });

  it("KSM merges 16 equal pages after two full scans, and everything is restored", () => {
    const out = run([
      "mmap 0x100000000000 16p rw- private|anon|fixed",
      "madvise 0x100000000000 16p nohugepage",
      "madvise 0x100000000000 16p mergeable",
      "write 0x100000000000 16p 7",
      "ksm pages_to_scan=1000 sleep_millisecs=10 run=1",
      "ksm_scan 2",
      "ksm_stat",
    ]);
    expect(out).toContain("ksm_merging_pages 16");
    expect(out).toContain("pages_shared 1");
    expect(out).toContain("pages_sharing 15");
    expect(out).toContain("ksm_mergeable yes");
    const scans = out.find((l) => l.startsWith("full_scans "));
    expect(Number(scans?.split(" ")[1])).toBeGreaterThanOrEqual(2);
    expect(readFileSync(join(KSM_DIR, "run"), "utf8").trim()).toBe(before["run"]);
  });

  it("max_map_count N limits the VMAs in the window (mmap may reach N + 1)", () => {
    const n = 4096;
    const lines = [`max_map_count ${n}`];
    for (let i = 0; i < n + 2; i++) lines.push(`mmap 0x${(0x100000000000 + i * 0x2000).toString(16)} 1p rw- private|anon|fixed`);
    lines.push("count");
    const expected = [`! ${n + 3} mmap ENOMEM`, `vmas ${n + 1}`];
    expect(run(lines)).toEqual(expected);
    expect(runScenarioLines(lines.join("\n"))).toEqual(expected);
  });

  it("refuses a max_map_count low enough to break other processes", () => {
    expect(() => run(["max_map_count 2", "count"])).toThrow(/below 4096/);
    expect(readFileSync("/proc/sys/vm/max_map_count", "utf8").trim()).toBe("65530");
  });

  it("a worker that dies is a harness failure (Error), knobs restored, temp dir removed", () => {
    const dirs = tempDirs();
    // Unmapping the worker's own text, libraries and stack kills it.
    expect(() =>
      run(["ksm sleep_millisecs=30", "mmap 0x100000000000 1p rw- private|anon|fixed", "munmap 0x500000000000 0x2ffffffff000", "count"]),
    ).toThrow(/died/);
    expect(tempDirs()).toEqual(dirs);
  });

  // Benchmark (d) compares rates, which means something only if the kernel
  // and the simulator run the same toggles: same generator, same pages.
  it("the alternating-prot benchmark leaves the kernel and the simulator with the same VMAs", () => {
    const n = 3000;
    const m = 20_000;
    const kernel = kernelAlternatingBench(n, m, 7);
    const sim = new Simulation({ engine: "wasm" });
    const p = sim.process("main");
    const b = sim.batch();
    const w = new AlternatingProt(n, 7);
    w.map(p, b, () => b.runRaw());
    // One toggle at a time, then in bulk (what the benchmark uses): the same sequence either way.
    for (let k = 0; k < m / 2; k++) w.toggle(p, b);
    w.toggles(p, b, m / 4);
    w.toggles(p, b, m / 4);
    expect(b.runRaw().every((r) => r >= 0)).toBe(true);
    expect(kernel.vmas).toBeGreaterThan(n / 4);
    expect(kernel.vmas).toBe(p.mapCount);
    const { BASE, PAGE } = AlternatingProt;
    const layout = p.vmas(BASE, BASE + n * PAGE).map((v) => ({ start: v.start, end: v.end, writable: v.perms[1] === "w" }));
    expect(kernel.layoutHash).toBe(alternatingLayoutHash(layout));
  });

  it("a malformed scenario throws ScenarioError", () => {
    expect(() => run(["mmap 0x100000000000 8p rw- private|anon|fixed", "frobnicate"])).toThrow(ScenarioError);
  });
});
