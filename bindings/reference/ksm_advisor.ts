/**
 * The KSM scan-time advisor (advisor_mode=scan-time), after mm/ksm.c (Linux
 * 6.7 to 6.18: advisor_start_scan, advisor_stop_scan, scan_time_advisor,
 * prev_scan_time, ewma, set_advisor_defaults). At the end of every full pass
 * it sets pages_to_scan from the pass's duration and ksmd's CPU time, with
 * the kernel's integer arithmetic: every division truncates, unsigned long
 * values wrap at 2^64 and the unsigned int ones (pages_to_scan, the CPU
 * percentage, advisor_max_cpu) at 2^32. BigInt keeps those widths exact.
 *
 * Time comes from ksmd's simulated clock (ms, a multiple of 1 us), CPU time
 * from the batch cost model in ksmd.ts (ns): see docs/ksm.md.
 */

/** pages_to_scan when the advisor is off (DEFAULT_PAGES_TO_SCAN). */
export const DEFAULT_PAGES_TO_SCAN = 100;
/** The floor of the CPU cap, in percent (KSM_ADVISOR_MIN_CPU). */
const KSM_ADVISOR_MIN_CPU = 10n;
/** Weight of the newest change in the moving average, in percent (EWMA_WEIGHT). */
const EWMA_WEIGHT = 30n;
const U64_MAX = (1n << 64n) - 1n;

/** struct advisor_ctx: what the advisor carries from one pass to the next. */
export class AdvisorCtx {
  /** Clock (ms) at the start of the current pass; 0 after a reset, like a ktime of boot. */
  start_scan = 0;
  /** Duration of the previous pass (s; 0: none yet). */
  scan_time = 0n;
  /** The smoothed change factor (percent). */
  change = 0n;
  /** ksmd's CPU time (ns) at the previous pass end. */
  cpu_time = 0n;
}

/** The knobs the advisor reads and pages_to_scan, which it writes (a subset of KsmKnobs). */
export interface AdvisorKnobs {
  pages_to_scan: number;
  advisor_mode: number;
  advisor_target_scan_time: number;
  advisor_min_pages_to_scan: number;
  advisor_max_pages_to_scan: number;
  advisor_max_cpu: number;
}

/**
 * A knob value as the kernel's unsigned long holds it. The engines carry
 * knobs as JS numbers, so 2^64 - 1 arrives rounded up to 2^64: saturate.
 */
export function knob_u64(x: number): bigint {
  return x >= 2 ** 64 ? U64_MAX : BigInt(x);
}

/** An unsigned long assigned to an unsigned int: the low 32 bits (what the kernel stores in pages_to_scan and advisor_max_cpu). */
export function to_u32(x: bigint): number {
  return Number(BigInt.asUintN(32, x));
}

/** A mode change starts afresh: none restores 100 pages, scan-time clears the context and starts from advisor_min_pages_to_scan. */
export function set_advisor_defaults(k: AdvisorKnobs, ctx: AdvisorCtx): void {
  if (k.advisor_mode === 0) {
    k.pages_to_scan = DEFAULT_PAGES_TO_SCAN;
  } else {
    ctx.start_scan = 0;
    ctx.scan_time = 0n;
    ctx.change = 0n;
    ctx.cpu_time = 0n;
    k.pages_to_scan = to_u32(knob_u64(k.advisor_min_pages_to_scan));
  }
}

/** A pass begins: remember when, so that its end can measure it (only while scan-time is on). */
export function advisor_start_scan(k: AdvisorKnobs, ctx: AdvisorCtx, now: number): void {
  if (k.advisor_mode === 1) ctx.start_scan = now;
}

/** The first step has no previous pass, so it takes this pass as its own predecessor. */
export function prev_scan_time(ctx: AdvisorCtx, scan_time: bigint): bigint {
  return ctx.scan_time !== 0n ? ctx.scan_time : scan_time;
}

/** Smooths the change factor so one odd pass cannot swing pages_to_scan (70 % old, 30 % new). */
export function ewma(prev: bigint, curr: bigint): bigint {
  return BigInt.asUintN(64, (100n - EWMA_WEIGHT) * prev + EWMA_WEIGHT * curr) / 100n;
}

/**
 * The pass just ended at clock `now` with ksmd's CPU time at `cpu_time` ns:
 * scale pages_to_scan toward the target scan time, smoothed by the change
 * factor, then bound it by the CPU it would cost and by the page cap.
 */
export function scan_time_advisor(k: AdvisorKnobs, ctx: AdvisorCtx, now: number, cpu_time: bigint): void {
  const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
  // ktime_ms_delta() then seconds; the clock is in ms on a 1 us grid.
  const elapsed_us = BigInt(Math.floor((now - ctx.start_scan) * 1000 + 0.5));
  let scan_time = elapsed_us / 1000n / 1000n;
  if (scan_time === 0n) scan_time = 1n;

  const cpu_time_diff_ms = u64(cpu_time - ctx.cpu_time) / 1000n / 1000n;
  let cpu_percent = BigInt.asUintN(32, u64(cpu_time_diff_ms * 100n) / u64(scan_time * 1000n));
  if (cpu_percent === 0n) cpu_percent = 1n;
  const last_scan_time = prev_scan_time(ctx, scan_time);

  let factor = u64(knob_u64(k.advisor_target_scan_time) * 100n) / scan_time;
  if (factor === 0n) factor = 1n;

  let change = u64(scan_time * 100n) / last_scan_time;
  if (change === 0n) change = 1n;
  change = ewma(ctx.change, change);

  const pages_to_scan = BigInt(k.pages_to_scan);
  // unsigned int times 100 is computed in 32 bits before the division.
  let pages = BigInt.asUintN(32, pages_to_scan * 100n) / factor;
  pages = u64(pages * change) / 100n;

  let per_page_cost = pages_to_scan / cpu_percent;
  if (per_page_cost === 0n) per_page_cost = 1n;

  const max_cpu = BigInt(to_u32(knob_u64(k.advisor_max_cpu)));
  pages = min(pages, u64(per_page_cost * max_cpu));
  pages = max(pages, u64(per_page_cost * KSM_ADVISOR_MIN_CPU));
  pages = min(pages, knob_u64(k.advisor_max_pages_to_scan));

  ctx.change = change;
  ctx.scan_time = scan_time;
  ctx.cpu_time = cpu_time;
  k.pages_to_scan = to_u32(pages);
}

/** A pass ended: let the advisor adjust pages_to_scan (only while scan-time is on). */
export function advisor_stop_scan(k: AdvisorKnobs, ctx: AdvisorCtx, now: number, cpu_time: bigint): void {
  if (k.advisor_mode === 1) scan_time_advisor(k, ctx, now, cpu_time);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
