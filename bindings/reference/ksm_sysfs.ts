/**
 * mm/ksm.c: /sys/kernel/mm/ksm and /proc/PID/ksm_stat. Which knob files
 * exist on a kernel, each knob's store function (its parser's refusals,
 * EBUSY, and its effects: run=2 unmerges everything, advisor_mode resets the
 * advisor), and the counters and profit formulas that the files report.
 * The knobs, counters and clock are ksmd's state (the Ksm of ksmd.ts).
 */
import { EBUSY, EINVAL, ENOENT, PAGE_SIZE, VM_MERGEABLE } from "../kernel/facts.js";
import type { KnobValue, KsmKnobName } from "../kernel/kstrto.js";
import { vmAny } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { knob_u64, set_advisor_defaults, to_u32 } from "./ksm_advisor.js";
import { stable_nodes_droppable } from "./ksm_stable.js";
import { RMAP_ITEM_BYTES } from "./ksm_types.js";
import type { Ksm } from "./ksmd.js";
import type { Mm } from "./mm_types.js";

/**
 * Whether /sys/kernel/mm/ksm/KEY exists on this kernel: smart_scan came with
 * 6.7 (switch ksmSmartScan), the advisor_* knobs with 6.9 (ksmAdvisor); a
 * missing file cannot be opened (ENOENT).
 */
export function ksm_knob_exists(k: Kernel, key: KsmKnobName): boolean {
  if (key === "smart_scan") return k.switches.ksmSmartScan;
  if (key.startsWith("advisor_")) return k.switches.ksmAdvisor;
  return true;
}

/** A write to /sys/kernel/mm/ksm/KEY (each store function's refusals and effects); 0 or -errno. */
export function write_knob(ksm: Ksm, key: KsmKnobName, v: KnobValue): number {
  if (!ksm_knob_exists(ksm.k, key)) return -ENOENT;
  const uint = v.u;
  switch (key) {
    case "run": {
      if (Number.isNaN(uint) || uint > 2) return -EINVAL;
      if (uint === ksm.knobs.run) return 0;
      ksm.knobs.run = uint;
      if (uint === 2) ksm.unmerge_all();
      return 0;
    }
    case "pages_to_scan":
      if (Number.isNaN(uint) || uint > 0xffffffff) return -EINVAL;
      if (ksm.knobs.advisor_mode !== 0) return -EINVAL;
      ksm.knobs.pages_to_scan = uint;
      return 0;
    case "sleep_millisecs":
    case "stable_node_chains_prune_millisecs":
      if (Number.isNaN(uint) || uint > 0xffffffff) return -EINVAL;
      ksm.knobs[key] = uint;
      return 0;
    case "max_page_sharing":
    case "merge_across_nodes": {
      const n = key === "max_page_sharing" ? v.i : uint;
      if (Number.isNaN(n) || (key === "max_page_sharing" ? n < 2 : n > 1)) return -EINVAL;
      if (n === ksm.knobs[key]) return 0;
      if (!stable_nodes_droppable(ksm)) return -EBUSY;
      ksm.knobs[key] = n;
      return 0;
    }
    case "use_zero_pages":
    case "smart_scan":
      if (v.b < 0) return -EINVAL;
      ksm.knobs[key] = v.b;
      return 0;
    case "advisor_mode":
      if (v.mode < 0) return -EINVAL;
      if (v.mode !== ksm.knobs.advisor_mode) {
        ksm.knobs.advisor_mode = v.mode;
        set_advisor_defaults(ksm.knobs, ksm.advisor);
      }
      return 0;
    case "advisor_target_scan_time":
      if (Number.isNaN(uint) || uint < 1) return -EINVAL;
      ksm.knobs.advisor_target_scan_time = uint;
      return 0;
    case "advisor_min_pages_to_scan":
    case "advisor_max_pages_to_scan":
      if (Number.isNaN(uint)) return -EINVAL;
      ksm.knobs[key] = uint;
      return 0;
    case "advisor_max_cpu":
      // kstrtoul() into an unsigned int: the low 32 bits stay.
      if (Number.isNaN(uint)) return -EINVAL;
      ksm.knobs.advisor_max_cpu = to_u32(knob_u64(uint));
      return 0;
  }
}

/** /proc/PID/ksm_stat values: rmap_items, zero_pages, merging_pages, process_profit, merge_any, mergeable. */
export function proc_ksm_stat(mm: Mm): number[] {
  const profit = (mm.ksmMergingPages + mm.ksmZeroPages) * PAGE_SIZE - mm.ksmRmapItems * RMAP_ITEM_BYTES;
  const mergeable = mm.tree.all().some((v) => vmAny(v.flags, VM_MERGEABLE));
  return [mm.ksmRmapItems, mm.ksmZeroPages, mm.ksmMergingPages, profit, mm.mergeAny ? 1 : 0, mergeable ? 1 : 0];
}

/** The global counters: shared, sharing, unshared, volatile, chains, dups, zero pages, profit, full scans, scanned, skipped, clock. */
export function global_stat(ksm: Ksm): number[] {
  const volatile = Math.max(0, ksm.rmapItems - ksm.pagesShared - ksm.pagesSharing - ksm.pagesUnshared);
  const profit = (ksm.pagesSharing + ksm.zeroPages) * PAGE_SIZE - ksm.rmapItems * RMAP_ITEM_BYTES;
  return [
    ksm.pagesShared, ksm.pagesSharing, ksm.pagesUnshared, volatile, ksm.chains, ksm.dups, ksm.zeroPages, profit, ksm.seqnr,
    ksm.pagesScanned, ksm.pagesSkipped, ksm.clock,
  ];
}
