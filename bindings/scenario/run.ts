/**
 * The scenario runner: parses a scenario and plays it on a Simulation,
 * returning exactly the report lines the CLI prints. It knows nothing of the
 * engine behind the facade.
 */
import { type AddressSpace, type Batch, type EngineName, type FileHandle, Simulation } from "../facade.js";
import type { CoreSource } from "../wasm/engine.js";
import { WINDOW_END, WINDOW_START } from "../kernel/facts.js";
import { type Command, ScenarioError, commandWord } from "./commands.js";
import { parseScenario } from "./parse.js";
import { formatCount, formatError, formatKsmGet, formatMapsLine, formatVmflagsLine } from "./report.js";

export interface RunOptions {
  readonly engine?: EngineName;
  readonly kernel?: string;
  readonly set?: readonly string[];
  /** The Wasm engine's code (SimulationOptions.wasm). */
  readonly wasm?: CoreSource;
}

const U64 = 2n ** 64n;

/** A signed knob value or an out-of-range one: what the kernel's kstrtoul family refuses. */
function n(v: bigint): number {
  return Number(v);
}

/** Runs a scenario and returns its report text (lines joined with "\n", with a final newline). */
export function runScenario(text: string, opts: RunOptions = {}): string {
  const lines = runScenarioLines(text, opts);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** Runs a scenario and returns its report lines. Throws ScenarioError for malformed input. */
export function runScenarioLines(text: string, opts: RunOptions = {}): string[] {
  return runScenarioOn(simulationFor(opts), text);
}

/** A Simulation for the options (engine, kernel version, switches). */
export function simulationFor(opts: RunOptions = {}): Simulation {
  return new Simulation({ engine: opts.engine ?? "ts", kernel: opts.kernel ?? "6.18", set: opts.set ?? [], ...(opts.wasm === undefined ? {} : { wasm: opts.wasm }) });
}

/** Runs a scenario on a given Simulation (which keeps its state afterwards) and returns the report lines. */
export function runScenarioOn(sim: Simulation, text: string): string[] {
  return new Runner(sim).run(parseScenario(text));
}

/**
 * Plays commands on a Simulation. Runs of syscalls go to the engine as one
 * batch; the batch is flushed before anything that reads state or switches
 * processes, so reports see every earlier call.
 */
class Runner {
  private current: AddressSpace;
  private readonly files = new Map<string, FileHandle>();
  private readonly out: string[] = [];
  private readonly batch: Batch;
  private pending: Command[] = [];

  constructor(private readonly sim: Simulation) {
    this.current = sim.process("main");
    this.batch = sim.batch();
  }

  run(commands: readonly Command[]): string[] {
    for (const c of commands) {
      if (!this.queue(c)) {
        this.flush();
        this.step(c);
      }
    }
    this.flush();
    return this.out;
  }

  private fail(c: Command, errno: string): void {
    this.out.push(formatError(c.line, commandWord(c), errno));
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const results = this.batch.run();
    results.forEach((r, i) => {
      if (!r.ok) this.fail(this.pending[i]!, r.errno);
    });
    this.pending = [];
  }

  /** Queue a syscall command in the batch; false if c is not one. */
  private queue(c: Command): boolean {
    const b = this.batch;
    const p = this.current;
    switch (c.op) {
      case "mmap":
        b.mmap(p, c.addr, c.len, c.prot, c.flags, c.file === null ? null : this.files.get(c.file)!, c.offset);
        break;
      case "munmap": b.munmap(p, c.addr, c.len); break;
      case "mprotect": b.mprotect(p, c.addr, c.len, c.prot); break;
      case "madvise": b.madvise(p, c.addr, c.len, c.advice); break;
      case "mremap": {
        const fixed = (c.flags & 2) !== 0 ? { fixed: c.newAddr } : {};
        b.mremap(p, c.addr, c.oldLen, c.newLen, { maymove: (c.flags & 1) !== 0, dontunmap: (c.flags & 4) !== 0, ...fixed });
        break;
      }
      case "mlock": b.mlock(p, c.addr, c.len); break;
      case "munlock": b.munlock(p, c.addr, c.len); break;
      case "prctl": b.setMemoryMerge(p, c.value % U64); break;
      case "write": {
        const content = c.content.kind === "unique" ? "unique" : c.content.kind === "cycle" ? { cycle: c.content.k } : { value: c.content.value };
        b.write(p, c.addr, c.len, content);
        break;
      }
      case "read": b.read(p, c.addr, c.len); break;
      default:
        return false;
    }
    this.pending.push(c);
    return true;
  }

  /** Commands that are not queued syscalls: files, processes, limits and reports. */
  private step(c: Command): void {
    const p = this.current;
    switch (c.op) {
      case "file":
        this.files.set(c.name, this.sim.createFile(c.name, c.size));
        return;
      case "open":
        this.files.set(c.name, this.sim.openDevZero(c.name));
        return;
      case "process":
        this.current = this.sim.process(c.name);
        return;
      case "fork": {
        const r = this.sim.fork(p, c.name);
        if (r.ok) this.current = r.value;
        else this.fail(c, r.errno);
        return;
      }
      case "exit": {
        // The parser has made sure that p has not exited yet.
        const r = p.exit();
        if (!r.ok) this.fail(c, r.errno);
        return;
      }
      case "max_map_count": {
        // The limit counts the process's VMAs outside the window too, as the kernel does.
        const outside = p.mapCount - p.vmas(WINDOW_START, WINDOW_END).filter((v) => v.start >= WINDOW_START && v.end <= WINDOW_END).length;
        this.sim.maxMapCount = n(c.value) + outside;
        return;
      }
      case "maps":
        for (const v of p.views()) this.out.push(formatMapsLine(v));
        return;
      case "vmflags":
        for (const v of p.views()) this.out.push(formatVmflagsLine(v));
        return;
      case "count":
        this.out.push(formatCount(p.views().length));
        return;
      case "echo":
        this.out.push(c.text);
        return;
      case "ksm":
        for (const [key, value] of c.settings) {
          const r = this.sim.ksmWrite(key, value);
          if (!r.ok) this.fail(c, r.errno);
        }
        return;
      case "ksm_get":
        for (const key of c.keys) {
          // Older kernels lack smart_scan (6.7) and the advisor knobs (6.9): the harness cannot read them either.
          const absent = key === "smart_scan" ? !this.sim.switches.ksmSmartScan : key.startsWith("advisor_") && !this.sim.switches.ksmAdvisor;
          if (absent) throw new ScenarioError(c.line, `ksm_get: /sys/kernel/mm/ksm/${key} does not exist on this kernel`);
          this.out.push(formatKsmGet(key, this.sim.ksmRead(key)));
        }
        return;
      case "ksm_scan":
        if (!this.sim.ksmScan(n(c.n))) {
          throw new ScenarioError(c.line, "ksm_scan: ksmd would never finish a scan (run is not 1, pages_to_scan is 0, or no process uses KSM)");
        }
        return;
      case "ksm_run":
        this.sim.ksmRun(n(c.ms));
        return;
      case "ksm_stat": {
        const k = p.ksmStat();
        const g = this.sim.ksmStat();
        const yes = (b: boolean) => (b ? "yes" : "no");
        const sw = this.sim.switches;
        // Older kernels print fewer lines: 6.12 no merge_any/mergeable, 6.1 only ksm_rmap_items
        // (ksm_zero_pages came with 6.6, the profit counters with 6.4).
        this.out.push(`ksm_rmap_items ${k.ksmRmapItems}`);
        if (sw.ksmZeroPagesCounter) this.out.push(`ksm_zero_pages ${k.ksmZeroPages}`);
        if (sw.ksmProfitCounters) this.out.push(`ksm_merging_pages ${k.ksmMergingPages}`, `ksm_process_profit ${k.ksmProcessProfit}`);
        if (sw.ksmStatMergeLines) this.out.push(`ksm_merge_any ${yes(k.ksmMergeAny)}`, `ksm_mergeable ${yes(k.ksmMergeable)}`);
        this.out.push(
          `pages_shared ${g.pagesShared}`, `pages_sharing ${g.pagesSharing}`, `pages_unshared ${g.pagesUnshared}`,
          `pages_volatile ${g.pagesVolatile}`, `stable_node_chains ${g.stableNodeChains}`, `stable_node_dups ${g.stableNodeDups}`,
        );
        if (sw.ksmZeroPagesCounter) this.out.push(`ksm_zero_pages ${g.ksmZeroPages}`);
        if (sw.ksmProfitCounters) this.out.push(`general_profit ${g.generalProfit}`);
        this.out.push(`full_scans ${g.fullScans}`);
        return;
      }
      default:
        throw new Error(`vmasim internal error: '${c.op}' was neither queued nor run`);
    }
  }
}
