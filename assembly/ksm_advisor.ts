// The KSM scan-time advisor (advisor_mode=scan-time), mirroring
// bindings/reference/ksm_advisor.ts function for function (after mm/ksm.c,
// Linux 6.7 to 6.18). At the end of every full pass it sets pages_to_scan
// from the pass's duration and ksmd's CPU time, with the kernel's integer
// arithmetic: u64 where the kernel has unsigned long (wrapping at 2^64),
// u32 for pages_to_scan, the CPU percentage and advisor_max_cpu. The knobs
// stay f64 in ksm_sysfs.ts, as the reference keeps them; each function takes the
// ones it reads and returns the new pages_to_scan where it sets it.

/** pages_to_scan when the advisor is off (DEFAULT_PAGES_TO_SCAN). */
export const DEFAULT_PAGES_TO_SCAN: f64 = 100;
/** The floor of the CPU cap, in percent (KSM_ADVISOR_MIN_CPU). */
const KSM_ADVISOR_MIN_CPU: u64 = 10;
/** Weight of the newest change in the moving average, in percent (EWMA_WEIGHT). */
const EWMA_WEIGHT: u64 = 30;

// struct advisor_ctx: what the advisor carries from one pass to the next.
/** Clock (ms) at the start of the current pass; 0 after a reset, like a ktime of boot. */
let ctxStartScan: f64 = 0;
/** Duration of the previous pass (s; 0: none yet). */
let ctxScanTime: u64 = 0;
/** The smoothed change factor (percent). */
let ctxChange: u64 = 0;
/** ksmd's CPU time (ns) at the previous pass end. */
let ctxCpuTime: u64 = 0;

/**
 * A knob value as the kernel's unsigned long holds it. The engines carry
 * knobs as f64, so 2^64 - 1 arrives rounded up to 2^64: saturate.
 */
export function knob_u64(x: f64): u64 {
  return x >= 18446744073709551616.0 ? u64.MAX_VALUE : <u64>x;
}

/** A mode change starts afresh: none restores 100 pages, scan-time clears the context and starts from advisor_min_pages_to_scan. Returns pages_to_scan. */
export function set_advisor_defaults(mode: f64, minPages: f64): f64 {
  if (mode == 0) return DEFAULT_PAGES_TO_SCAN;
  ctxStartScan = 0;
  ctxScanTime = 0;
  ctxChange = 0;
  ctxCpuTime = 0;
  return <f64><u32>knob_u64(minPages);
}

/** A pass begins: remember when, so that its end can measure it (only while scan-time is on). */
export function advisor_start_scan(mode: f64, now: f64): void {
  if (mode == 1) ctxStartScan = now;
}

/** The first step has no previous pass, so it takes this pass as its own predecessor. */
export function prev_scan_time(scan_time: u64): u64 {
  return ctxScanTime != 0 ? ctxScanTime : scan_time;
}

/** Smooths the change factor so one odd pass cannot swing pages_to_scan (70 % old, 30 % new). */
export function ewma(prev: u64, curr: u64): u64 {
  return ((100 - EWMA_WEIGHT) * prev + EWMA_WEIGHT * curr) / 100;
}

/**
 * The pass just ended at clock `now` with ksmd's CPU time at `cpu_time` ns:
 * scale pages_to_scan toward the target scan time, smoothed by the change
 * factor, then bound it by the CPU it would cost and by the page cap.
 * Returns the new pages_to_scan.
 */
export function scan_time_advisor(
  now: f64, cpu_time: u64, pagesToScan: f64, targetScanTime: f64, maxCpu: f64, maxPages: f64,
): f64 {
  // ktime_ms_delta() then seconds; the clock is in ms on a 1 us grid.
  const elapsed_us = <u64>Math.floor((now - ctxStartScan) * 1000 + 0.5);
  let scan_time = elapsed_us / 1000 / 1000;
  if (scan_time == 0) scan_time = 1;

  const cpu_time_diff_ms = (cpu_time - ctxCpuTime) / 1000 / 1000;
  let cpu_percent = <u32>((cpu_time_diff_ms * 100) / (scan_time * 1000));
  if (cpu_percent == 0) cpu_percent = 1;
  const last_scan_time = prev_scan_time(scan_time);

  let factor = (knob_u64(targetScanTime) * 100) / scan_time;
  if (factor == 0) factor = 1;

  let change = (scan_time * 100) / last_scan_time;
  if (change == 0) change = 1;
  change = ewma(ctxChange, change);

  const pages_to_scan = <u32>pagesToScan;
  // unsigned int times 100 is computed in 32 bits before the division.
  let pages = <u64>(pages_to_scan * 100) / factor;
  pages = (pages * change) / 100;

  let per_page_cost = <u64>(pages_to_scan / cpu_percent);
  if (per_page_cost == 0) per_page_cost = 1;

  const max_cpu = <u64><u32>knob_u64(maxCpu);
  pages = min(pages, per_page_cost * max_cpu);
  pages = max(pages, per_page_cost * KSM_ADVISOR_MIN_CPU);
  pages = min(pages, knob_u64(maxPages));

  ctxChange = change;
  ctxScanTime = scan_time;
  ctxCpuTime = cpu_time;
  return <f64><u32>pages;
}

/** A pass ended: let the advisor adjust pages_to_scan (only while scan-time is on). Returns pages_to_scan. */
export function advisor_stop_scan(
  mode: f64, now: f64, cpu_time: u64, pagesToScan: f64, targetScanTime: f64, maxCpu: f64, maxPages: f64,
): f64 {
  if (mode != 1) return pagesToScan;
  return scan_time_advisor(now, cpu_time, pagesToScan, targetScanTime, maxCpu, maxPages);
}
