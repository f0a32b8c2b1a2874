// /sys/kernel/mm/ksm and /proc/PID/ksm_stat, mirroring
// bindings/reference/ksm_sysfs.ts (after mm/ksm.c's store and show
// functions): the knobs, each write's refusals and effects, and the
// counters as read back.

import { EBUSY, EINVAL, ENOENT, SW_KSM_ADVISOR, SW_KSM_SMART_SCAN, VM_MERGEABLE } from "./generated/facts";
import {
  KNOB_ADVISOR_MAX_CPU, KNOB_ADVISOR_MAX_PAGES_TO_SCAN, KNOB_ADVISOR_MIN_PAGES_TO_SCAN, KNOB_ADVISOR_MODE,
  KNOB_ADVISOR_TARGET_SCAN_TIME, KNOB_MAX_PAGE_SHARING, KNOB_MERGE_ACROSS_NODES, KNOB_PAGES_TO_SCAN, KNOB_RUN,
  KNOB_SLEEP_MILLISECS, KNOB_SMART_SCAN, KNOB_STABLE_NODE_CHAINS_PRUNE_MILLISECS, KNOB_USE_ZERO_PAGES,
} from "./generated/abi";
import { sw } from "./kernel";
import { knob_u64, set_advisor_defaults } from "./ksm_advisor";
import { stable_nodes_droppable } from "./ksm_stable";
import { PAGE_BYTES, RMAP_ITEM_BYTES } from "./ksm_types";
import {
  chains, clock, dups, pagesScanned, pagesShared, pagesSharing, pagesSkipped, pagesUnshared, rmapItems, seqnr, unmerge_all,
  unmerge_all_pages, zeroPages,
} from "./ksmd";
import { mm_ksm_merging_pages, mm_ksm_rmap_items, mm_ksm_zero_pages, mm_merge_any, vma_flags } from "./mm_types";
import { tree_iter_first, tree_iter_next } from "./tree_iter";

// ---- the knobs of /sys/kernel/mm/ksm, as the reference keeps them (JS numbers) ----------
export let kRun: f64 = 0;
export let kPagesToScan: f64 = 100;
export let kSleepMs: f64 = 20;
export let kMaxPageSharing: f64 = 256;
export let kUseZeroPages: f64 = 0;
export let kSmartScan: f64 = 1;
let kMergeAcrossNodes: f64 = 1;
export let kPruneMs: f64 = 2000;
export let kAdvisorMode: f64 = 0;
export let kAdvisorTargetScanTime: f64 = 200;
let kAdvisorMinPages: f64 = 500;
export let kAdvisorMaxPages: f64 = 30000;
export let kAdvisorMaxCpu: f64 = 70;

/** Room for what a knob write may allocate (run=2 unshares); false if memory is exhausted. */
export function ksm_write_pages_needed(knob: i32, u: f64): u64 {
  return knob == <i32>KNOB_RUN && u == 2 && kRun != 2 ? unmerge_all_pages() : 0;
}

/** Whether the knob's file exists: smart_scan from 6.7 (SW_KSM_SMART_SCAN), advisor_* from 6.9 (SW_KSM_ADVISOR). */
function ksm_knob_exists(knob: i32): bool {
  if (knob == <i32>KNOB_SMART_SCAN) return sw(SW_KSM_SMART_SCAN);
  if (knob >= <i32>KNOB_ADVISOR_MODE && knob <= <i32>KNOB_ADVISOR_MAX_CPU) return sw(SW_KSM_ADVISOR);
  return true;
}

/**
 * A write to /sys/kernel/mm/ksm/<KSM_KNOB_NAMES[knob]> (each store function's
 * refusals and effects), the value as kstrto.ts's parsers read it (NaN or -1
 * where a parser refuses it); 0 or -errno.
 */
export function write_knob(knob: i32, u: f64, i: f64, b: f64, mode: f64): i32 {
  if (!ksm_knob_exists(knob)) return -<i32>ENOENT;
  const uint = u;
  switch (knob) {
    case KNOB_RUN: {
      if (isNaN(uint) || uint > 2) return -<i32>EINVAL;
      if (uint == kRun) return 0;
      kRun = uint;
      if (uint == 2) unmerge_all();
      return 0;
    }
    case KNOB_PAGES_TO_SCAN:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      if (kAdvisorMode != 0) return -<i32>EINVAL;
      kPagesToScan = uint;
      return 0;
    case KNOB_SLEEP_MILLISECS:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      kSleepMs = uint;
      return 0;
    case KNOB_STABLE_NODE_CHAINS_PRUNE_MILLISECS:
      if (isNaN(uint) || uint > 4294967295) return -<i32>EINVAL;
      kPruneMs = uint;
      return 0;
    case KNOB_MAX_PAGE_SHARING:
      if (isNaN(i) || i < 2) return -<i32>EINVAL;
      if (i == kMaxPageSharing) return 0;
      if (!stable_nodes_droppable()) return -<i32>EBUSY;
      kMaxPageSharing = i;
      return 0;
    case KNOB_MERGE_ACROSS_NODES:
      if (isNaN(uint) || uint > 1) return -<i32>EINVAL;
      if (uint == kMergeAcrossNodes) return 0;
      if (!stable_nodes_droppable()) return -<i32>EBUSY;
      kMergeAcrossNodes = uint;
      return 0;
    case KNOB_USE_ZERO_PAGES:
      if (b < 0) return -<i32>EINVAL;
      kUseZeroPages = b;
      return 0;
    case KNOB_SMART_SCAN:
      if (b < 0) return -<i32>EINVAL;
      kSmartScan = b;
      return 0;
    case KNOB_ADVISOR_MODE:
      if (mode < 0) return -<i32>EINVAL;
      if (mode != kAdvisorMode) {
        kAdvisorMode = mode;
        kPagesToScan = set_advisor_defaults(kAdvisorMode, kAdvisorMinPages);
      }
      return 0;
    case KNOB_ADVISOR_TARGET_SCAN_TIME:
      if (isNaN(uint) || uint < 1) return -<i32>EINVAL;
      kAdvisorTargetScanTime = uint;
      return 0;
    case KNOB_ADVISOR_MIN_PAGES_TO_SCAN:
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMinPages = uint;
      return 0;
    case KNOB_ADVISOR_MAX_PAGES_TO_SCAN:
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMaxPages = uint;
      return 0;
    case KNOB_ADVISOR_MAX_CPU:
      // kstrtoul() into an unsigned int: the low 32 bits stay.
      if (isNaN(uint)) return -<i32>EINVAL;
      kAdvisorMaxCpu = <f64><u32>knob_u64(uint);
      return 0;
  }
  return -<i32>EINVAL;
}

// ---- reports -------------------------------------------------------------------------------------

/** The knobs' values into out (13 f64, in KSM_KNOB_NAMES order): what reading /sys/kernel/mm/ksm/KEY shows. */
export function knob_values(out: usize): void {
  store<f64>(out, kRun, 0);
  store<f64>(out, kPagesToScan, 8);
  store<f64>(out, kSleepMs, 16);
  store<f64>(out, kMaxPageSharing, 24);
  store<f64>(out, kUseZeroPages, 32);
  store<f64>(out, kSmartScan, 40);
  store<f64>(out, kMergeAcrossNodes, 48);
  store<f64>(out, kPruneMs, 56);
  store<f64>(out, kAdvisorMode, 64);
  store<f64>(out, kAdvisorTargetScanTime, 72);
  store<f64>(out, kAdvisorMinPages, 80);
  store<f64>(out, kAdvisorMaxPages, 88);
  store<f64>(out, kAdvisorMaxCpu, 96);
}

/** /proc/PID/ksm_stat values into out (6 f64): rmap_items, zero_pages, merging_pages, process_profit, merge_any, mergeable. */
export function proc_ksm_stat(mm: usize, out: usize): void {
  const items = <f64>mm_ksm_rmap_items(mm);
  const zero = <f64>mm_ksm_zero_pages(mm);
  const merging = <f64>mm_ksm_merging_pages(mm);
  let mergeable = false;
  for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
    if ((vma_flags(v) & VM_MERGEABLE) != 0) {
      mergeable = true;
      break;
    }
  }
  store<f64>(out, items, 0);
  store<f64>(out, zero, 8);
  store<f64>(out, merging, 16);
  store<f64>(out, (merging + zero) * PAGE_BYTES - items * RMAP_ITEM_BYTES, 24);
  store<f64>(out, mm_merge_any(mm) ? 1 : 0, 32);
  store<f64>(out, mergeable ? 1 : 0, 40);
}

/**
 * The global counters into out (12 f64): shared, sharing, unshared, volatile,
 * chains, dups, zero pages, profit, full scans, scanned, skipped, clock.
 */
export function global_stat(out: usize): void {
  const vol = rmapItems - pagesShared - pagesSharing - pagesUnshared;
  store<f64>(out, <f64>pagesShared, 0);
  store<f64>(out, <f64>pagesSharing, 8);
  store<f64>(out, <f64>pagesUnshared, 16);
  store<f64>(out, vol > 0 ? <f64>vol : 0, 24);
  store<f64>(out, <f64>chains, 32);
  store<f64>(out, <f64>dups, 40);
  store<f64>(out, <f64>zeroPages, 48);
  store<f64>(out, (<f64>pagesSharing + <f64>zeroPages) * PAGE_BYTES - <f64>rmapItems * RMAP_ITEM_BYTES, 56);
  store<f64>(out, <f64>seqnr, 64);
  store<f64>(out, <f64>pagesScanned, 72);
  store<f64>(out, <f64>pagesSkipped, 80);
  store<f64>(out, clock, 88);
}
