/**
 * The native benchmarks on the live kernel (harness/vmasim-kbench.c), the
 * kernel's side of `npm run bench` rows (d) and (e): the alternating-prot
 * workload and ksmd's page-visit rate, each run by the C program, which
 * raises and restores vm.max_map_count and the KSM knobs itself.
 */
import { spawnSync } from "node:child_process";
import { buildTool } from "./live.js";

/**
 * ksmd on the live kernel over n mergeable pages (n/10 distinct contents, 10%
 * rewritten after each pass), pages_to_scan at its maximum and sleep 0
 * (harness/vmasim-kbench.c); restores every knob.
 */
export function kernelKsmBench(n: number, passes: number, seed: number): { visitsPerSecond: number } {
  const bin = buildTool("vmasim-kbench");
  const r = spawnSync(bin, ["ksm", String(n), String(passes), String(seed)], { encoding: "utf8", timeout: 600_000 });
  const match = /visits_per_s (\S+)/.exec(r.stdout ?? "");
  if (r.status !== 0 || !match) throw new Error(`vmasim-kbench ksm failed: ${(r.stderr ?? "").trim() || r.error?.message}`);
  return { visitsPerSecond: Number(match[1]) };
}

/**
 * The alternating-prot workload run natively on the live kernel
 * (harness/vmasim-kbench.c): its rate, and the VMAs it leaves in its range
 * (how many, and layoutHash: FNV-1a over each one's start page, end page
 * and writability, as alternatingLayoutHash computes it).
 */
export function kernelAlternatingBench(
  n: number,
  m: number,
  seed: number,
): { setupSeconds: number; opsPerSecond: number; vmas: number; layoutHash: string } {
  const bin = buildTool("vmasim-kbench");
  const r = spawnSync(bin, ["alternating", String(n), String(m), String(seed)], { encoding: "utf8", timeout: 600_000 });
  const match = /setup_s (\S+) ops_per_s (\S+) vmas (\d+) layout_hash ([0-9a-f]{16})/.exec(r.stdout ?? "");
  if (r.status !== 0 || !match) throw new Error(`vmasim-kbench failed: ${(r.stderr ?? "").trim() || r.error?.message}`);
  return { setupSeconds: Number(match[1]), opsPerSecond: Number(match[2]), vmas: Number(match[3]), layoutHash: match[4]! };
}

/** kernelAlternatingBench's layoutHash of VMAs given as byte ranges and writability. */
export function alternatingLayoutHash(vmas: readonly { start: number; end: number; writable: boolean }[]): string {
  const PRIME = 0x100000001b3n;
  const mix = (h: bigint, x: bigint) => BigInt.asUintN(64, (h ^ x) * PRIME);
  let h = 0xcbf29ce484222325n;
  for (const v of vmas) {
    h = mix(h, BigInt(v.start / 4096));
    h = mix(h, BigInt(v.end / 4096));
    h = mix(h, v.writable ? 1n : 0n);
  }
  return h.toString(16).padStart(16, "0");
}
