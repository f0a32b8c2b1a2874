/**
 * Kernel behaviour versions. Every behaviour that differs between kernels is
 * one named switch here; a version preset is a set of switches, and users may
 * flip single switches on top (`--set ksmEarly=off`). Both engines read the
 * same KernelSwitches object.
 */

export interface KernelSwitches {
  /**
   * 6.17+ ("mm: prevent KSM from breaking VMA merging for new VMAs"): under
   * PR_SET_MEMORY_MERGE a new anonymous (or mmap_prepare/shmem file) VMA gets
   * VM_MERGEABLE before the merge attempt. Off: only after it (≤ 6.16), so a
   * new VMA never merges with its already-mergeable neighbours.
   */
  readonly ksmEarly: boolean;
  /**
   * 6.16+ (879bca0a2c4f "mm/vma: fix incorrectly disallowed anonymous VMA
   * merges"): the three-case anon_vma rule keyed on the source VMA. Off: the
   * older rule that refuses to merge a faulted range into an unfaulted neighbour.
   */
  readonly anonVmaSourceRule: boolean;
  /** 6.18.9+: an mremap()ed fork-child source may not give its anon_vma to an unfaulted target. */
  readonly copiedFromForkCheck: boolean;
  /** 6.17+: mremap(MREMAP_FIXED) with old_len == new_len may move several VMAs at once. */
  readonly multiVmaMremap: boolean;
  /** 6.18.44 / 7.x difference: MREMAP_DONTUNMAP may merge the copy with its own source. */
  readonly dontunmapSelfMerge: boolean;
  /**
   * 6.18 ("mm/mremap: correctly account old mapping after MREMAP_DONTUNMAP
   * remap"): the source of a DONTUNMAP move keeps VM_ACCOUNT. Before, it was
   * cleared together with VM_LOCKED (measured on 6.18.44: kept).
   */
  readonly dontunmapKeepsAccount: boolean;
  /**
   * 6.18.44 (the 6.18.y backport of sticky VMA flags): VM_MAYBE_GUARD is kept
   * on the VMA that survives a merge if any participant had it.
   */
  readonly stickyFlags: boolean;
  /**
   * Configuration, not version: CONFIG_MEM_SOFT_DIRTY (Debian's kernels have
   * it, this machine's does not). New mappings get VM_SOFTDIRTY, which smaps
   * shows as `sd` and merging ignores.
   */
  readonly softDirty: boolean;
  /**
   * Before the 6.16 mremap rework (vma_remap_struct): the source VMA is looked
   * up before the new address is checked, and a FIXED destination is unmapped
   * before the source range is validated (measured on a booted 6.12).
   */
  readonly mremapLegacyOrder: boolean;
  /**
   * 6.12 (measured): MREMAP_DONTUNMAP of part of a locked VMA splits the moved
   * range off and unlocks only it; 6.18 unlocks the whole source VMA.
   */
  readonly dontunmapMunlocksRange: boolean;
  /** ≈6.14+: /proc/PID/ksm_stat has the `ksm_merge_any:` and `ksm_mergeable:` lines. */
  readonly ksmStatMergeLines: boolean;
  /**
   * What-if (David Hildenbrand's review of the 2025 series): KSM also accepts
   * private VM_PFNMAP, VM_MIXEDMAP, VM_IO and VM_DONTEXPAND mappings. Off in
   * every real kernel up to 7.2.
   */
  readonly ksmAllowSpecial: boolean;
  /**
   * 6.4 (d7597f59d1d3 "mm: add new api to enable ksm per process"):
   * prctl(PR_SET_MEMORY_MERGE) exists. Off: the prctl fails with EINVAL.
   */
  readonly prctlMemoryMerge: boolean;
  /**
   * 6.7 ("mm/mprotect: allow unfaulted VMAs to be unaccounted on
   * mprotect()"): mprotect_fixup() drops VM_ACCOUNT when write is removed from
   * an anonymous VMA without anon_vma. Off: VM_ACCOUNT stays (6.1, measured).
   */
  readonly mprotectUnaccount: boolean;
  /**
   * Before 6.12 ("mm: avoid using vma_merge() for new VMAs"): mmap_region()
   * expands next first (if the new range fits its front), then prev, asking
   * can_vma_merge_after() with next's anon_vma; is_mergeable_anon_vma() is
   * asked about the existing VMA, so an unfaulted prev never takes a faulted
   * next's anon_vma and next keeps the new range (6.1, measured).
   */
  readonly mmapExpandNextFirst: boolean;
  /**
   * 6.4 ("mm: add new KSM process and sysfs knobs"): /proc/PID/ksm_stat has
   * `ksm_merging_pages` and `ksm_process_profit`, and the global counters
   * `general_profit`. Off: only `ksm_rmap_items` per process (6.1).
   */
  readonly ksmProfitCounters: boolean;
  /**
   * 6.6 ("ksm: count all zero pages placed by KSM", "ksm: add ksm zero pages
   * for each process"): the `ksm_zero_pages` counters, per process and global.
   */
  readonly ksmZeroPagesCounter: boolean;
  /**
   * 6.7 ("mm/ksm: add smart page scanning"): the `smart_scan` knob (and its
   * skipping of pages that did not merge). Off: the knob is absent (ENOENT)
   * and every page is looked at in every scan.
   */
  readonly ksmSmartScan: boolean;
  /** 6.9 ("mm/ksm: add ksm advisor"): the `advisor_*` knobs. Off: absent (ENOENT). */
  readonly ksmAdvisor: boolean;
  /**
   * 2025 ("mm/ksm: fix incorrect KSM counter handling in mm_struct during
   * fork", backported to 6.12.y, not in 6.1.176): ksm_fork() zeroes the
   * child's ksm_rmap_items and ksm_merging_pages. Off: the child keeps the
   * parent's values, copied with the mm, and counts on from them (measured).
   */
  readonly ksmForkResetsCounters: boolean;
  /**
   * Before 6.10 ("mm/madvise: make MADV_POPULATE_(READ|WRITE) handle
   * VM_FAULT_RETRY properly"): madvise_walk_vmas() calls madvise_populate()
   * per VMA, so a hole gives ENOMEM only at the end (the VMAs after it are
   * populated, and an incompatible one there fails first, EINVAL). On: one
   * call for the whole range, the first hole fails at once (measured on 6.1).
   */
  readonly madvisePopulatePerVma: boolean;
  /**
   * Before 6.11 ("mm/ksm: optimize the chain()/chain_prune() interfaces"):
   * stable_node_dup() picks only dups with room (none: the walk compares with
   * any dup, stable_node_dup_any()), and a chain collapses into its dup only
   * while pruning (every stable_node_chains_prune_millisecs) and if that was
   * its one live dup. On: the best dup, full or not, and a chain of one dup
   * always collapses (measured on 6.1: a chain of one dup stays a chain).
   */
  readonly ksmDupCandidatesOnly: boolean;
}

export type SwitchName = keyof KernelSwitches;

const K6_18: KernelSwitches = {
  ksmEarly: true,
  anonVmaSourceRule: true,
  copiedFromForkCheck: true,
  multiVmaMremap: true,
  dontunmapSelfMerge: true,
  dontunmapKeepsAccount: true,
  stickyFlags: true,
  softDirty: false,
  mremapLegacyOrder: false,
  dontunmapMunlocksRange: false,
  ksmStatMergeLines: true,
  ksmAllowSpecial: false,
  prctlMemoryMerge: true,
  mprotectUnaccount: true,
  mmapExpandNextFirst: false,
  ksmProfitCounters: true,
  ksmZeroPagesCounter: true,
  ksmSmartScan: true,
  ksmAdvisor: true,
  ksmForkResetsCounters: true,
  madvisePopulatePerVma: false,
  ksmDupCandidatesOnly: false,
};

const K6_12: KernelSwitches = {
  ...K6_18, ksmEarly: false, anonVmaSourceRule: false, copiedFromForkCheck: false, multiVmaMremap: false,
  // 6.12.117 keeps VM_ACCOUNT on a DONTUNMAP source (the fix reached 6.12.y; measured by booting it).
  dontunmapSelfMerge: false, dontunmapKeepsAccount: true, stickyFlags: false, softDirty: true, ksmStatMergeLines: false,
  mremapLegacyOrder: true, dontunmapMunlocksRange: true,
};

/**
 * The presets; "6.18" is the live kernel of these machines and the default.
 * "6.12" is Debian 12's linux-image-6.12 as booted by `verify --boot`
 * (docs/boot.md): before the 6.16 anon_vma rule and the 6.17 KSM series,
 * built with CONFIG_MEM_SOFT_DIRTY. "6.1" is Debian 12's own kernel
 * (linux-image-6.1.0-*-amd64-unsigned), booted the same way. "6.16" and
 * "6.17" come from the notes (no image to boot).
 */
export const KERNEL_PRESETS: Readonly<Record<string, KernelSwitches>> = {
  "6.18": K6_18,
  "6.17": { ...K6_18, copiedFromForkCheck: false, dontunmapKeepsAccount: false, stickyFlags: false },
  "6.16": { ...K6_18, ksmEarly: false, copiedFromForkCheck: false, multiVmaMremap: false, dontunmapKeepsAccount: false, stickyFlags: false },
  "6.12": K6_12,
  // 6.1.176 as booted: 6.12's older mremap and anon_vma rules, plus what 6.2-6.11 added missing.
  "6.1": {
    ...K6_12, dontunmapSelfMerge: true, prctlMemoryMerge: false, mprotectUnaccount: false, mmapExpandNextFirst: true,
    ksmProfitCounters: false, ksmZeroPagesCounter: false, ksmSmartScan: false, ksmAdvisor: false, ksmForkResetsCounters: false,
    madvisePopulatePerVma: true, ksmDupCandidatesOnly: true,
    // A DONTUNMAP source loses VM_LOCKED whole, unsplit, as on 6.18 (booted: pinned-dontunmap-locked-6.1).
    dontunmapMunlocksRange: false,
  },
};

export const DEFAULT_KERNEL = "6.18";

/** A bad kernel version or switch (a usage error: the CLI exits 2). */
export class KernelSwitchError extends Error {
  override name = "KernelSwitchError";
}

/** Resolves a preset name plus `name=on|off` overrides; throws KernelSwitchError naming the bad argument. */
export function resolveKernel(version: string, overrides: readonly string[] = []): KernelSwitches {
  const base = Object.hasOwn(KERNEL_PRESETS, version) ? KERNEL_PRESETS[version] : undefined;
  if (base === undefined) {
    throw new KernelSwitchError(`unknown kernel version '${version}' (known: ${Object.keys(KERNEL_PRESETS).join(", ")})`);
  }
  const out: Record<string, boolean> = { ...base };
  for (const o of overrides) {
    const m = /^([A-Za-z]+)=(on|off|true|false|1|0)$/.exec(o);
    if (!m || !Object.hasOwn(base, m[1]!)) {
      throw new KernelSwitchError(`bad switch '${o}' (expected NAME=on|off with NAME one of ${Object.keys(base).join(", ")})`);
    }
    out[m[1]!] = m[2] === "on" || m[2] === "true" || m[2] === "1";
  }
  return out as unknown as KernelSwitches;
}
