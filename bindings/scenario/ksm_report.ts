/**
 * `vmasim ksm-report`: run a scenario, then let ksmd run until its counters
 * stop changing, and report what KSM saves: per process and in total, and
 * how much simulated ksmd time and how many full scans that took.
 */
import type { Simulation } from "../facade.js";
import { WINDOW_END, WINDOW_START } from "../kernel/facts.js";
import { ScenarioError } from "./commands.js";
import { type RunOptions, runScenarioOn, simulationFor } from "./run.js";

const MAX_PASSES = 10_000;

/** The counters that settle once KSM has converged (unshared/volatile may alternate under smart scan). */
function settled(sim: Simulation): string {
  const g = sim.ksmStat();
  const per = sim.processList().map((p) => {
    const k = p.ksmStat();
    return `${k.ksmRmapItems}/${k.ksmMergingPages}/${k.ksmZeroPages}`;
  });
  return [g.pagesShared, g.pagesSharing, g.ksmZeroPages, g.stableNodeChains, g.stableNodeDups, ...per].join(" ");
}

export function ksmReport(text: string, opts: RunOptions = {}): string {
  const sim = simulationFor(opts);
  runScenarioOn(sim, text);
  // ksmd runs from here on whatever the scenario left it at (run=1 is a no-op if it was on).
  sim.ksmWrite("run", "1");
  let passes = 0;
  let before = settled(sim);
  for (;;) {
    if (!sim.ksmScan(1)) throw new ScenarioError(0, "ksm-report: ksmd has nothing to scan (no process uses MADV_MERGEABLE or PR_SET_MEMORY_MERGE, or pages_to_scan is 0)");
    passes++;
    const now = settled(sim);
    if (now === before) break;
    before = now;
    if (passes >= MAX_PASSES) throw new ScenarioError(0, `ksm-report: no convergence after ${MAX_PASSES} full scans`);
  }
  const g = sim.ksmStat();
  const rows = sim.processList().map((p) => {
    const k = p.ksmStat();
    const vmas = p.vmas(WINDOW_START, WINDOW_END).filter((v) => v.start >= WINDOW_START && v.end <= WINDOW_END).length;
    return [p.name, String(vmas), String(k.ksmRmapItems), String(k.ksmMergingPages), String(k.ksmZeroPages), String(k.ksmProcessProfit)];
  });
  const totalVmas = rows.reduce((n, r) => n + Number(r[1]), 0);
  const totalItems = rows.reduce((n, r) => n + Number(r[2]), 0);
  const totalMerged = rows.reduce((n, r) => n + Number(r[3]), 0);
  rows.push(["total", String(totalVmas), String(totalItems), String(totalMerged), String(g.ksmZeroPages), String(g.generalProfit)]);
  const head = ["process", "VMAs", "pages scanned", "merged", "zero pages", "profit (bytes)"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [
    `kernel ${sim.kernel} behaviour (${sim.engine.name} engine)`,
    fmt(head),
    ...rows.map(fmt),
    "",
    `KSM pages (pages_shared) ${g.pagesShared}, mappings saved (pages_sharing) ${g.pagesSharing}, unshared ${g.pagesUnshared}, chains ${g.stableNodeChains}, dups ${g.stableNodeDups}`,
    `saved ${((g.pagesSharing + g.ksmZeroPages) * 4096 / 2 ** 20).toFixed(1)} MiB of ${(totalItems * 4096 / 2 ** 20).toFixed(1)} MiB scanned; profit per process counts every merged mapping, the total (general_profit) only the saved ones`,
    `converged after ${g.fullScans} full scans and ${(g.clockMs / 1000).toFixed(2)} s of simulated ksmd time (${passes} scans after the scenario's end; ${g.pagesScanned} page visits)`,
  ].join("\n");
}
