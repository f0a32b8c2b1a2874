/**
 * Comparing a simulator report with a kernel's. Everything must be equal but
 * `full_scans`: ksmd keeps scanning in the background on a real kernel, so
 * after `ksm_scan N` it may be a few passes ahead: there the kernel's count
 * must be at least the simulator's.
 */

/** Whether the kernel's report lines agree with the simulator's. */
export function reportsMatch(sim: readonly string[], kernel: readonly string[]): boolean {
  if (sim.length !== kernel.length) return false;
  return sim.every((s, i) => {
    const k = kernel[i]!;
    if (s.startsWith("full_scans ") && k.startsWith("full_scans ")) return Number(k.slice(11)) >= Number(s.slice(11));
    return s === k;
  });
}
