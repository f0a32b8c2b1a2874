#!/usr/bin/env node
/**
 * The vmasim command line. It drives the scenario runner (through the facade)
 * and the live-kernel harness; it never touches an engine directly.
 */
import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { createTwoFilesPatch } from "diff";
import { bootAvailable, fetchKernelImage, runOnBootedKernel } from "../harness/boot.js";
import { liveKernelAvailable, runOnKernel } from "../harness/live.js";
import { KERNEL_PRESETS, KernelSwitchError } from "../kernel/versions.js";
import { ScenarioError } from "../scenario/commands.js";
import { reportsMatch } from "../scenario/compare.js";
import { ksmReport } from "../scenario/ksm_report.js";
import { simOnlyReason } from "../scenario/parse.js";
import { runScenarioLines } from "../scenario/run.js";
import { allocatorWorkload, stress } from "../scenario/workloads.js";

const HELP: Record<string, string> = {
  main: `vmasim: a simulator of the Linux VMA layer and KSM

usage: vmasim COMMAND [options]

commands:
  run FILE|-        run a scenario on the simulator and print its report
  compare FILE      run a scenario on two or more kernel versions side by side
  kernel FILE       run a scenario on the live kernel of this machine
  verify FILE...    run each scenario on the simulator and the live kernel and compare
  showcase          VMA counts of the seed case and an allocator-like workload on every kernel version
  ksm-report FILE   run a scenario until KSM converges and report the savings
  stress            build and churn an address space of millions of VMAs

'vmasim COMMAND --help' describes each command. Kernel versions: ${Object.keys(KERNEL_PRESETS).join(", ")}.`,
  run: `usage: vmasim run FILE|- [--engine wasm|ts] [--kernel VERSION] [--set SWITCH=on|off]...

Runs the scenario in FILE (or standard input for '-') and prints the report.
--engine: wasm (the default) or ts, the reference engine; both give the same
report.
Exit status: 0 on success, 2 for a malformed scenario or a bad argument.`,
  compare: `usage: vmasim compare FILE [--kernel A --kernel B ...] [--engine wasm|ts]

Runs the scenario on each kernel version (default: every preset) and prints
the reports side by side, with each version's VMA count at the end.`,
  kernel: `usage: vmasim kernel FILE|-

Runs the scenario in real processes on this machine's kernel (a small C
harness built with cc) and prints the same report as 'vmasim run'. Needs root
for KSM knobs, mlock and max_map_count.`,
  verify: `usage: vmasim verify FILE... [--engine wasm|ts] [--kernel VERSION] [--boot PACKAGE_OR_VMLINUZ]

Runs each scenario on the simulator and on the live kernel and compares the
reports (full_scans as "the kernel has at least as many": its ksmd keeps
scanning in the background). Prints PASS or FAIL (with a diff) per file,
then 'N passed, N failed'.
Exit status 1 if any file fails.

With --boot, the kernel is not this machine's: a Debian kernel package (e.g.
linux-image-6.12.*+deb12-amd64-unsigned or linux-image-6.1.0-50-amd64-unsigned,
fetched with apt-get and cached) or a vmlinuz file is booted under qemu, all the scenarios run in one boot, and the
simulator runs with the matching --kernel preset (from the booted version,
unless --kernel is given). A scenario that crashes or hangs the guest is
reported as such; the others still run.`,
  "ksm-report": `usage: vmasim ksm-report FILE|- [--kernel VERSION] [--set SWITCH=on|off]... [--engine wasm|ts]

Runs the scenario, then lets ksmd run (turning it on if the scenario did
not) until its counters stop changing, and prints per process and in total:
VMAs in the window, pages scanned, pages merged, KSM zero pages and profit in
bytes, then the simulated ksmd time and full scans convergence took. Run it
with --kernel 6.16 and 6.18 to see what the pre-6.17 KSM flag order costs in
VMAs for the same savings.`,
  stress: `usage: vmasim stress [--vmas N] [--churn M] [--engine wasm|ts]

Builds an address space of N VMAs (default 10000000: single pages alternating
rw-/r--), then churns it with M random single-page mprotect toggles (default
1000000). Shows a progress bar on a terminal and prints the ops/s of both
phases, the VMA count and the engine's memory per VMA.`,
  showcase: `usage: vmasim showcase [--chunks N] [--engine wasm|ts]

Runs the seed case and an allocator-like workload (adjacent anonymous mmaps,
some writes and mprotects, under PR_SET_MEMORY_MERGE) on every kernel
version's behaviour (6.1, 6.12, 6.16, 6.17, 6.18) and prints the VMA counts side
by side, plus the live kernel's if available.`,
};

class UsageError extends Error {}

function readScenario(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function parse(args: string[], options: NonNullable<ParseArgsConfig["options"]>): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, unknown>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** --engine: the Wasm engine unless "ts" (the reference engine) is asked for; the two give the same reports. */
function engineOf(v: unknown): "ts" | "wasm" {
  if (v === undefined || v === "ts" || v === "wasm") return (v as "ts" | "wasm" | undefined) ?? "wasm";
  throw new UsageError(`--engine must be ts or wasm, not '${String(v)}'`);
}

function cmdRun(args: string[]): number {
  const { values, positionals } = parse(args, { engine: { type: "string" }, kernel: { type: "string" }, set: { type: "string", multiple: true } });
  if (values.help) return help("run");
  if (positionals.length !== 1) throw new UsageError("run takes one FILE (or - for standard input)");
  const text = readScenario(positionals[0]!);
  const lines = runScenarioLines(text, { engine: engineOf(values.engine), kernel: (values.kernel as string) ?? "6.18", set: (values.set as string[]) ?? [] });
  process.stdout.write(lines.map((l) => `${l}\n`).join(""));
  return 0;
}

function cmdCompare(args: string[]): number {
  const { values, positionals } = parse(args, { engine: { type: "string" }, kernel: { type: "string", multiple: true } });
  if (values.help) return help("compare");
  if (positionals.length !== 1) throw new UsageError("compare takes one FILE");
  const kernels = (values.kernel as string[] | undefined) ?? Object.keys(KERNEL_PRESETS).sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]));
  if (kernels.length < 2) throw new UsageError("compare needs at least two --kernel versions");
  const text = readScenario(positionals[0]!);
  const runs = kernels.map((k) => runScenarioLines(text, { engine: engineOf(values.engine), kernel: k }));
  // The VMA count at the end of each run: the same scenario with one more `count`.
  const counts = kernels.map((k) => runScenarioLines(`${text}\ncount\n`, { engine: engineOf(values.engine), kernel: k }).at(-1)!);
  const heads = kernels.map((k, i) => `kernel ${k} (${counts[i]} at the end)`);
  const width = Math.max(...heads.slice(0, -1).map((h) => h.length), ...runs.slice(0, -1).flatMap((r) => r.map((l) => l.length)));
  const rows = Math.max(...runs.map((r) => r.length));
  const row = (cells: string[]) => `${cells.map((c, j) => (j < cells.length - 1 ? c.padEnd(width) : c)).join("  ||  ").trimEnd()}\n`;
  process.stdout.write(row(heads));
  for (let i = 0; i < rows; i++) process.stdout.write(row(runs.map((r) => r[i] ?? "")));
  return 0;
}

function requireKernel(): void {
  const k = liveKernelAvailable();
  if (!k.ok) throw new UsageError(`the live kernel cannot be used here: ${k.reason}`);
}

function cmdKernel(args: string[]): number {
  const { values, positionals } = parse(args, {});
  if (values.help) return help("kernel");
  if (positionals.length !== 1) throw new UsageError("kernel takes one FILE");
  requireKernel();
  const lines = runOnKernel(readScenario(positionals[0]!));
  process.stdout.write(lines.map((l) => `${l}\n`).join(""));
  return 0;
}

function cmdVerify(args: string[]): number {
  const { values, positionals } = parse(args, { engine: { type: "string" }, kernel: { type: "string" }, boot: { type: "string" } });
  if (values.help) return help("verify");
  if (positionals.length === 0) throw new UsageError("verify takes one or more FILEs");
  const texts = positionals.map(readScenario);
  // A `# sim-only:` scenario is not run on the kernel (its report depends on what a kernel cannot reproduce).
  const simOnly = texts.map(simOnlyReason);
  const live = texts.filter((_, i) => simOnly[i] === null);
  let kernel = values.kernel as string | undefined;
  let real: ({ lines: string[] } | { error: string })[];
  if (values.boot !== undefined) {
    const avail = bootAvailable();
    if (!avail.ok) throw new UsageError(`cannot boot a kernel here: ${avail.reason}`);
    const image = fetchKernelImage(values.boot as string);
    const version = /^(\d+\.\d+)/.exec(image.version)?.[1] ?? image.version;
    kernel ??= version;
    if (!Object.hasOwn(KERNEL_PRESETS, kernel)) throw new UsageError(`no kernel preset for ${image.version}: pass --kernel (known: ${Object.keys(KERNEL_PRESETS).join(", ")})`);
    process.stdout.write(`booted ${image.version} (${image.package ?? image.vmlinuz}); simulator --kernel ${kernel}\n`);
    real = runOnBootedKernel(image, live);
  } else {
    requireKernel();
    real = live.map((t) => {
      try {
        return { lines: runOnKernel(t) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    });
  }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let next = 0;
  positionals.forEach((file, i) => {
    if (simOnly[i] !== null) {
      skipped++;
      process.stdout.write(`SKIP ${file} (sim-only: ${simOnly[i]})\n`);
      return;
    }
    const r = real[next++]!;
    let sim: string[];
    try {
      sim = runScenarioLines(texts[i]!, { engine: engineOf(values.engine), kernel: kernel ?? "6.18" });
    } catch (e) {
      failed++;
      process.stdout.write(`FAIL ${file}: ${(e as Error).message}\n`);
      return;
    }
    if ("error" in r) {
      failed++;
      process.stdout.write(`FAIL ${file}: kernel: ${r.error}\n`);
    } else if (reportsMatch(sim, r.lines)) {
      passed++;
      process.stdout.write(`PASS ${file}\n`);
    } else {
      failed++;
      process.stdout.write(`FAIL ${file}\n`);
      process.stdout.write(createTwoFilesPatch("kernel", "vmasim", `${r.lines.join("\n")}\n`, `${sim.join("\n")}\n`, "", "", { context: 2 }));
    }
  });
  process.stdout.write(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}\n`);
  return failed === 0 ? 0 : 1;
}

/** The seed case of the 2025 series: two adjacent anonymous mmaps under PR_SET_MEMORY_MERGE. */
const SEED_CASE = ["prctl memory_merge 1", "mmap 0x100000000000 8p rw- private|anon|fixed", "mmap 0x100000008000 8p rw- private|anon|fixed", "count"].join("\n");

function cmdShowcase(args: string[]): number {
  const { values } = parse(args, { chunks: { type: "string" }, engine: { type: "string" } });
  if (values.help) return help("showcase");
  const chunks = values.chunks === undefined ? 2000 : Number(values.chunks);
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > 100000) throw new UsageError("--chunks must be a whole number from 1 to 100000");
  const engine = engineOf(values.engine ?? "wasm");
  const text = allocatorWorkload(chunks);
  const count = (lines: string[]) => lines.at(-1)?.replace("vmas ", "") ?? "?";
  const versions = Object.keys(KERNEL_PRESETS).sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]));
  const out = [
    `The seed case (two adjacent 8-page anonymous mmaps under prctl(PR_SET_MEMORY_MERGE)) and an allocator-like`,
    `workload (${chunks} adjacent anonymous mmaps of 1-16 pages under the same prctl, a third written, some`,
    `mprotected, some freed and mapped again): VMAs at the end, per kernel behaviour (${engine} engine).`,
    "",
    `  kernel               seed case   allocator`,
  ];
  for (const v of versions) {
    out.push(`  Linux ${v.padEnd(14)} ${count(runScenarioLines(SEED_CASE, { engine, kernel: v })).padStart(9)}   ${count(runScenarioLines(text, { engine, kernel: v })).padStart(9)}`);
  }
  const live = liveKernelAvailable();
  if (live.ok) out.push(`  live kernel (here)   ${count(runOnKernel(SEED_CASE)).padStart(9)}   ${count(runOnKernel(text)).padStart(9)}`);
  else out.push(`  live kernel: not run (${live.reason})`);
  out.push(
    "",
    "Up to 6.16 a new VMA got VM_MERGEABLE only after the merge attempt, so it never merged with its",
    "already-mergeable neighbours; 6.17 sets the flag first. 6.12 also lacks 6.16's anon_vma rule.",
    "6.1 has no PR_SET_MEMORY_MERGE at all (EINVAL: it came with 6.4), so nothing there is mergeable.",
    "'vmasim verify --boot linux-image-6.12.*+deb12-amd64-unsigned FILE...' checks 6.12 on the real kernel.",
  );
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

function cmdKsmReport(args: string[]): number {
  const { values, positionals } = parse(args, { engine: { type: "string" }, kernel: { type: "string" }, set: { type: "string", multiple: true } });
  if (values.help) return help("ksm-report");
  if (positionals.length !== 1) throw new UsageError("ksm-report takes one FILE (or - for standard input)");
  const text = readScenario(positionals[0]!);
  process.stdout.write(`${ksmReport(text, { engine: engineOf(values.engine), kernel: (values.kernel as string) ?? "6.18", set: (values.set as string[]) ?? [] })}\n`);
  return 0;
}

function cmdStress(args: string[]): number {
  const { values } = parse(args, { vmas: { type: "string" }, churn: { type: "string" }, engine: { type: "string" } });
  if (values.help) return help("stress");
  const count = (v: unknown, def: number, what: string) => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 100_000_000) throw new UsageError(`--${what} must be a whole number from 1 to 100000000`);
    return n;
  };
  const n = count(values.vmas, 10_000_000, "vmas");
  const m = count(values.churn, 1_000_000, "churn");
  const r = stress(engineOf(values.engine ?? "wasm"), n, m, progressBar());
  process.stderr.write(process.stderr.isTTY ? "\r\x1b[K" : "");
  const bytes = r.memoryBytes === null ? "n/a (reference engine: JS heap)" : `${(r.memoryBytes / n).toFixed(1)} bytes/VMA (${(r.memoryBytes / 2 ** 20).toFixed(0)} MiB)`;
  process.stdout.write(
    `built ${n} VMAs: ${(n / r.buildSeconds / 1e6).toFixed(2)}M mmap/s\n` +
      `churned ${m} mprotect toggles: ${(m / r.churnSeconds / 1e6).toFixed(2)}M ops/s\n` +
      `VMAs now ${r.vmas}; engine memory after the build: ${bytes}\n`,
  );
  return 0;
}

/** A one-line progress bar on a terminal (nothing otherwise). */
function progressBar(): (phase: string, done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => {};
  let last = -1;
  return (phase, done, total) => {
    const pct = Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    process.stderr.write(`\r${phase.padEnd(6)} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${pct}%`);
  };
}

function help(cmd: string): number {
  process.stdout.write(`${HELP[cmd]}\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => number> = {
  run: cmdRun, compare: cmdCompare, kernel: cmdKernel, verify: cmdVerify, showcase: cmdShowcase, stress: cmdStress, "ksm-report": cmdKsmReport,
};

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") return help("main");
    const f = COMMANDS[cmd];
    if (f === undefined) throw new UsageError(`unknown command '${cmd}' (try 'vmasim --help')`);
    return f(rest);
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write(`vmasim: ${e.message}\n`);
      return 2;
    }
    if (e instanceof UsageError || e instanceof KernelSwitchError) {
      process.stderr.write(`vmasim: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`vmasim: internal error: ${(e as Error).message}\n`);
    return 70;
  }
}

process.exitCode = main(process.argv.slice(2));
