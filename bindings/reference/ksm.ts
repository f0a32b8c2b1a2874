/**
 * The VMA side of KSM (mm/ksm.c): which VMAs may be VM_MERGEABLE, and
 * prctl(PR_SET_MEMORY_MERGE). The ksmd scan loop is not part of this file.
 */
import { EINVAL, VM_HUGETLB, VM_MAYSHARE, VM_MERGEABLE, VM_SHARED, VM_SPECIAL } from "../kernel/facts.js";
import { vmAny, vmClear, vmSet } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import type { File, Mm } from "./mm_types.js";
import { unshare_ksm_range } from "./pages.js";

/**
 * KSM only works on private, non-hugetlb, non-special memory
 * (ksm_compatible()). The ksmAllowSpecial what-if drops the VM_SPECIAL test.
 */
export function ksm_compatible(k: Kernel, _file: File | null, flags: number): boolean {
  if (vmAny(flags, VM_SHARED | VM_MAYSHARE | VM_HUGETLB)) return false;
  if (!k.switches.ksmAllowSpecial && vmAny(flags, VM_SPECIAL)) return false;
  return true;
}

/** The flags a new VMA gets under PR_SET_MEMORY_MERGE (ksm_vma_flags()). */
export function ksm_vma_flags(k: Kernel, mm: Mm, file: File | null, flags: number): number {
  if (mm.mergeAny && ksm_compatible(k, file, flags)) {
    k.ksm.ksm_enter(mm);
    return vmSet(flags, VM_MERGEABLE);
  }
  return flags;
}

/**
 * prctl(PR_SET_MEMORY_MERGE): enabling marks every compatible VMA mergeable,
 * disabling clears VM_MERGEABLE everywhere; both write the flag directly,
 * without any split or merge (ksm_enable_merge_any / ksm_disable_merge_any).
 * Before 6.4 (switch prctlMemoryMerge off) prctl() knows no such option:
 * EINVAL.
 */
export function prctl_set_memory_merge(k: Kernel, mm: Mm, enable: boolean): number {
  if (!k.switches.prctlMemoryMerge) return -EINVAL;
  if (enable) {
    if (mm.mergeAny) return 0;
    k.ksm.ksm_enter(mm);
    mm.mergeAny = true;
    for (const vma of mm.tree.all()) {
      if (!vmAny(vma.flags, VM_MERGEABLE) && ksm_compatible(k, vma.file, vma.flags)) vma.flags = vmSet(vma.flags, VM_MERGEABLE);
    }
    return 0;
  }
  if (!mm.mergeAny) return 0;
  for (const vma of mm.tree.all()) {
    if (!vmAny(vma.flags, VM_MERGEABLE)) continue;
    unshare_ksm_range(k, mm, vma.start, vma.end);
    vma.flags = vmClear(vma.flags, VM_MERGEABLE);
  }
  mm.mergeAny = false;
  return 0;
}
