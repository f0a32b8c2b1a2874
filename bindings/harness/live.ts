/**
 * The live-kernel harness: runs a scenario in real processes on the running
 * Linux kernel and returns the same report lines as the simulator.
 *
 * The scenario is parsed here, translated into the line protocol of
 * harness/vmasim-kernel.c (docs/live-harness.md) and fed to that program on
 * stdin; its raw records are formatted with report.ts, so the simulator and
 * the kernel print byte-identical text for identical behaviour.
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errnoName } from "../kernel/facts.js";
import { type Command, commandWord, ScenarioError } from "../scenario/commands.js";
import { parseScenario } from "../scenario/parse.js";
import { formatCount, formatError, formatMapsLine, formatVmflagsLine, type VmaView } from "../scenario/report.js";

export interface KernelCheck {
  readonly ok: boolean;
  readonly reason: string;
}

const KSM_DIR = "/sys/kernel/mm/ksm";
const MAX_MAP_COUNT = "/proc/sys/vm/max_map_count";
/** spawnSync limits: a scenario may wait for many KSM scans and dump large maps. */
const RUN_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_OUTPUT = 1 << 30;

/** Whether this machine can run scenarios on the live kernel. */
export function liveKernelAvailable(): KernelCheck {
  if (process.platform !== "linux") return { ok: false, reason: `not Linux (platform ${process.platform})` };
  try {
    readFileSync("/proc/self/smaps", "utf8");
  } catch (e) {
    return { ok: false, reason: `/proc/self/smaps is not readable (${(e as Error).message})` };
  }
  const cc = spawnSync("cc", ["--version"], { encoding: "utf8" });
  if (cc.error !== undefined || cc.status !== 0) {
    return { ok: false, reason: "no C compiler: `cc --version` failed" + (cc.error ? ` (${cc.error.message})` : "") };
  }
  return { ok: true, reason: "Linux with /proc/self/smaps and cc" };
}

/** The directory holding package.json, found by walking up from this module. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`live harness: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * Compiles harness/NAME.c to build/NAME unless the binary is newer than the
 * source. Returns the binary's path.
 */
export function buildTool(name: "vmasim-kernel" | "vmasim-kbench"): string {
  const root = projectRoot();
  const src = join(root, "harness", `${name}.c`);
  const bin = join(root, "build", name);
  const srcTime = statSync(src).mtimeMs;
  if (existsSync(bin) && statSync(bin).mtimeMs >= srcTime) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  // Compile to a private name and rename, so concurrent builds never expose a half-written binary.
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync("cc", ["-O2", "-Wall", "-o", tmp, src], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to remove
    }
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
    throw new Error(`live harness: cc failed to compile ${src}${r.error ? ` (${r.error.message})` : ""}:\n${out}`);
  }
  renameSync(tmp, bin);
  return bin;
}

/** Compiles the live-kernel harness (harness/vmasim-kernel.c) if needed; returns its path. */
export function buildHarness(): string {
  return buildTool("vmasim-kernel");
}

// ---------------------------------------------------------------------------
// Knob snapshot (defence in depth: the C program restores them itself)

interface KnobSnapshot {
  readonly ksm: ReadonlyMap<string, string>;
  readonly maxMapCount: string | null;
}

/** A sysfs choice knob prints `[none] scan-time`: keep the selected word. */
function knobValue(text: string): string {
  const t = text.trim();
  const m = /\[([^\]]*)\]/.exec(t);
  return m ? m[1]! : t;
}

function readKnob(path: string): string | null {
  try {
    return knobValue(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
}

function snapshotKnobs(): KnobSnapshot {
  const ksm = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(KSM_DIR);
  } catch {
    // no KSM on this kernel
  }
  for (const name of names) {
    const path = join(KSM_DIR, name);
    try {
      if ((statSync(path).mode & 0o200) === 0) continue;
    } catch {
      continue;
    }
    const v = readKnob(path);
    if (v !== null) ksm.set(name, v);
  }
  return { ksm, maxMapCount: readKnob(MAX_MAP_COUNT) };
}

/** Restores what differs from the snapshot; returns the knobs it could not restore. */
function restoreKnobs(snap: KnobSnapshot): string[] {
  const failed: string[] = [];
  const write = (path: string, value: string): string | null => {
    try {
      writeFileSync(path, value);
      return null;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? "error";
    }
  };
  let unmerged = false;
  // advisor_mode first: while scan-time is on a pages_to_scan write is EINVAL, and switching the mode resets pages_to_scan.
  const order = [...snap.ksm].sort(([a], [b]) => Number(b === "advisor_mode") - Number(a === "advisor_mode"));
  for (const [name, orig] of order) {
    if (name === "run") continue;
    const path = join(KSM_DIR, name);
    if (readKnob(path) === orig) continue;
    let err = write(path, orig);
    if (err === "EBUSY" && !unmerged) {
      // KSM pages of dead workers still count: unmerge everything, then retry.
      write(join(KSM_DIR, "run"), "2");
      unmerged = true;
      err = write(path, orig);
    }
    if (err !== null) failed.push(`${name} (${err})`);
  }
  const runOrig = snap.ksm.get("run");
  if (runOrig !== undefined) {
    const runPath = join(KSM_DIR, "run");
    if (readKnob(runPath) !== runOrig || unmerged) {
      // ksmd was off before: leave no stale KSM state of the dead workers behind.
      if (runOrig === "0" && !unmerged) write(runPath, "2");
      const err = write(runPath, runOrig);
      if (err !== null) failed.push(`run (${err})`);
    }
  }
  if (snap.maxMapCount !== null && readKnob(MAX_MAP_COUNT) !== snap.maxMapCount) {
    const err = write(MAX_MAP_COUNT, snap.maxMapCount);
    if (err !== null) failed.push(`max_map_count (${err})`);
  }
  return failed;
}

// ---------------------------------------------------------------------------
// Scenario → protocol

export interface Translation {
  readonly input: string;
  /** Kernel path (as /proc/PID/maps prints it) → scenario name; the first name wins. */
  readonly names: ReadonlyMap<string, string>;
}

/** The harness protocol (docs/live-harness.md) for a parsed scenario whose files go in dir. */
export function translate(commands: readonly Command[], dir: string): Translation {
  const out: string[] = [`dir ${dir}`];
  const names = new Map<string, string>();
  const fileIndex = new Map<string, number>();
  const procIndex = new Map<string, number>([["main", 0]]);
  const addName = (path: string, name: string) => {
    if (!names.has(path)) names.set(path, name);
  };
  const d = (v: bigint | number) => v.toString(10);
  for (const c of commands) {
    const L = c.line;
    switch (c.op) {
      case "file": {
        const idx = fileIndex.size;
        fileIndex.set(c.name, idx);
        const path = join(dir, `f${idx}`);
        addName(path, c.name);
        out.push(`file ${idx} ${path} ${d(c.size)}`);
        break;
      }
      case "open": {
        const idx = fileIndex.size;
        fileIndex.set(c.name, idx);
        addName(c.path, c.name);
        try {
          addName(realpathSync(c.path), c.name);
        } catch {
          // the harness reports the failed open
        }
        out.push(`open ${idx} ${c.path}`);
        break;
      }
      case "mmap": {
        let fidx = -1;
        if (c.file !== null) {
          const i = fileIndex.get(c.file);
          if (i === undefined) throw new ScenarioError(L, `unknown file name '${c.file}'`);
          fidx = i;
        }
        out.push(`mmap ${L} ${d(c.addr)} ${d(c.len)} ${c.prot} ${c.flags} ${fidx} ${d(c.offset)}`);
        break;
      }
      case "munmap":
      case "mlock":
      case "munlock":
      case "read":
        out.push(`${c.op} ${L} ${d(c.addr)} ${d(c.len)}`);
        break;
      case "mprotect":
        out.push(`mprotect ${L} ${d(c.addr)} ${d(c.len)} ${c.prot}`);
        break;
      case "madvise":
        out.push(`madvise ${L} ${d(c.addr)} ${d(c.len)} ${c.advice}`);
        break;
      case "mremap":
        out.push(`mremap ${L} ${d(c.addr)} ${d(c.oldLen)} ${d(c.newLen)} ${c.flags} ${d(c.newAddr)}`);
        break;
      case "prctl":
        out.push(`prctl_mm ${L} ${d(c.value)}`);
        break;
      case "write": {
        const [mode, arg] =
          c.content.kind === "value" ? [0, c.content.value] : c.content.kind === "unique" ? [1, 0n] : [2, c.content.k];
        out.push(`write ${L} ${d(c.addr)} ${d(c.len)} ${mode} ${d(arg)}`);
        break;
      }
      case "process": {
        let idx = procIndex.get(c.name);
        if (idx === undefined) {
          idx = procIndex.size;
          procIndex.set(c.name, idx);
        }
        out.push(`process ${idx}`);
        break;
      }
      case "fork": {
        if (procIndex.has(c.name)) throw new ScenarioError(L, `fork: process '${c.name}' already exists`);
        const idx = procIndex.size;
        procIndex.set(c.name, idx);
        out.push(`fork ${idx}`);
        break;
      }
      case "ksm":
        for (const [key, value] of c.settings) out.push(`ksm ${L} ${key} ${value}`);
        break;
      case "ksm_get":
        for (const key of c.keys) out.push(`ksm_get ${L} ${key}`);
        break;
      case "ksm_scan":
        out.push(`ksm_scan ${L} ${d(c.n)}`);
        break;
      case "max_map_count":
        out.push(`max_map_count ${L} ${d(c.value)}`);
        break;
      case "maps":
      case "vmflags":
      case "count":
        out.push(`maps ${L}`);
        break;
      case "ksm_stat":
        out.push(`ksm_stat ${L}`);
        break;
      case "ksm_run":
        out.push(`ksm_run ${L} ${d(c.ms)}`);
        break;
      case "exit":
        out.push(`exit ${L}`);
        break;
      case "echo":
        break;
    }
  }
  return { input: out.join("\n") + "\n", names };
}

// ---------------------------------------------------------------------------
// Output → report lines

class Records {
  private i = 0;
  constructor(private readonly lines: readonly string[]) {}

  private next(what: string): string {
    const l = this.lines[this.i++];
    if (l === undefined) throw new Error(`live harness: output ended while expecting ${what}`);
    return l;
  }

  /** The errno of `ret LINE ERRNO`. */
  ret(line: number): number {
    const l = this.next(`ret ${line}`);
    const m = /^ret (\d+) (\d+)$/.exec(l);
    if (!m || Number(m[1]) !== line) throw new Error(`live harness: expected 'ret ${line} ...', got '${l}'`);
    return Number(m[2]);
  }

  /** `vma` records up to `end LINE`. */
  vmas(line: number, names: ReadonlyMap<string, string>): VmaView[] {
    const out: VmaView[] = [];
    for (;;) {
      const l = this.next(`end ${line}`);
      if (l === `end ${line}`) return out;
      const f = l.split("\t");
      if (f.length !== 7 || f[0] !== "vma") throw new Error(`live harness: expected a vma record, got '${l}'`);
      const path = f[6]!;
      out.push({
        start: parseInt(f[1]!, 16),
        end: parseInt(f[2]!, 16),
        perms: f[3]!,
        // pgoff << 12 has its low 12 bits clear, so it fits a double exactly.
        offset: Number(BigInt(`0x${f[4]!}`)),
        name: path === "" ? null : (names.get(path) ?? path),
        vmflags: f[5]!,
      });
    }
  }

  /** `kv KEY VALUE` records up to `end LINE`, as `KEY VALUE`. */
  kvs(line: number): string[] {
    const out: string[] = [];
    for (;;) {
      const l = this.next(`end ${line}`);
      if (l === `end ${line}`) return out;
      if (!l.startsWith("kv ")) throw new Error(`live harness: expected a kv record, got '${l}'`);
      out.push(l.slice(3));
    }
  }

  done(): void {
    const l = this.next("done");
    if (l !== "done") throw new Error(`live harness: expected 'done', got '${l}'`);
    if (this.i !== this.lines.length) throw new Error(`live harness: unexpected output after 'done'`);
  }
}

/** The report lines of a scenario from the harness's output lines. */
export function report(commands: readonly Command[], lines: readonly string[], names: ReadonlyMap<string, string>): string[] {
  const rec = new Records(lines);
  const out: string[] = [];
  for (const c of commands) {
    switch (c.op) {
      case "echo":
        out.push(c.text);
        break;
      case "file":
      case "open":
      case "process":
      case "fork":
        break;
      case "maps":
        for (const v of rec.vmas(c.line, names)) out.push(formatMapsLine(v));
        break;
      case "vmflags":
        for (const v of rec.vmas(c.line, names)) out.push(formatVmflagsLine(v));
        break;
      case "count":
        out.push(formatCount(rec.vmas(c.line, names).length));
        break;
      case "ksm_stat":
        out.push(...rec.kvs(c.line));
        break;
      case "ksm_get":
        for (let k = 0; k < c.keys.length; k++) out.push(...rec.kvs(c.line));
        break;
      case "ksm":
        for (let k = 0; k < c.settings.length; k++) {
          const err = rec.ret(c.line);
          if (err !== 0) out.push(formatError(c.line, commandWord(c), errnoName(err)));
        }
        break;
      default: {
        const err = rec.ret(c.line);
        if (err !== 0) out.push(formatError(c.line, commandWord(c), errnoName(err)));
      }
    }
  }
  rec.done();
  return out;
}

/**
 * Runs a scenario on the live kernel and returns its report lines. A malformed
 * scenario throws ScenarioError; a harness failure (a worker died, the
 * compiler failed, ksm_scan timed out) throws Error.
 */
export function runOnKernel(text: string): string[] {
  const commands = parseScenario(text);
  const bin = buildHarness();
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "vmasim-live-")));
  const snap = snapshotKnobs();
  let failure = true;
  try {
    const { input, names } = translate(commands, dir);
    const r = spawnSync(bin, [], {
      input,
      encoding: "utf8",
      timeout: RUN_TIMEOUT_MS,
      killSignal: "SIGTERM",
      maxBuffer: MAX_OUTPUT,
    });
    const stdout = r.stdout ?? "";
    const lines = stdout.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    const fatal = lines.find((l) => l.startsWith("fatal "));
    if (fatal !== undefined) throw new Error(`live harness: ${fatal.slice(6)}`);
    if (r.error !== undefined) throw new Error(`live harness: ${r.error.message}`);
    if (r.status !== 0) {
      const how = r.status === null ? `killed by ${r.signal}` : `exit status ${r.status}`;
      throw new Error(`live harness: ${bin} failed (${how})${r.stderr ? `:\n${r.stderr.trim()}` : ""}`);
    }
    const result = report(commands, lines, names);
    failure = false;
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const failed = restoreKnobs(snap);
    // Do not hide the run's own error behind a restore problem.
    if (failed.length > 0 && !failure) throw new Error(`live harness: cannot restore ${failed.join(", ")}`);
  }
}
