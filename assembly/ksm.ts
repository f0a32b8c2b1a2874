// The VMA side of KSM, mirroring bindings/reference/ksm.ts.

import { EINVAL, SW_KSM_ALLOW_SPECIAL, SW_PRCTL_MEMORY_MERGE, VM_HUGETLB, VM_MAYSHARE, VM_MERGEABLE, VM_SHARED, VM_SPECIAL } from "./generated/facts";
import { sw } from "./kernel";
import { ksm_enter } from "./ksmd";
import { mm_merge_any, mm_set_merge_any, vma_end, vma_file, vma_flags, vma_set_flags, vma_start } from "./mm_types";
import { unshare_ksm_range } from "./pages";
import { tree_iter_first, tree_iter_next } from "./tree_iter";

/** KSM only works on private, non-hugetlb, non-special memory (ksm_compatible()). */
export function ksm_compatible(file: u32, flags: u32): bool {
  if ((flags & (VM_SHARED | VM_MAYSHARE | VM_HUGETLB)) != 0) return false;
  if (!sw(SW_KSM_ALLOW_SPECIAL) && (flags & VM_SPECIAL) != 0) return false;
  return true;
}

/** The flags a new VMA gets under PR_SET_MEMORY_MERGE (ksm_vma_flags()). */
export function ksm_vma_flags(mm: usize, file: u32, flags: u32): u32 {
  if (mm_merge_any(mm) && ksm_compatible(file, flags)) {
    ksm_enter(mm);
    return flags | VM_MERGEABLE;
  }
  return flags;
}

/**
 * prctl(PR_SET_MEMORY_MERGE): set VM_MERGEABLE directly on every compatible
 * VMA, without merging; clearing it unshares the KSM pages of every
 * VM_MERGEABLE VMA first. Before 6.4 (SW_PRCTL_MEMORY_MERGE off) prctl()
 * knows no such option: EINVAL.
 */
export function prctl_set_memory_merge(mm: usize, enable: bool): i64 {
  if (!sw(SW_PRCTL_MEMORY_MERGE)) return -<i64>EINVAL;
  if (enable) {
    if (mm_merge_any(mm)) return 0;
    ksm_enter(mm);
    mm_set_merge_any(mm, true);
    for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
      const f = vma_flags(v);
      if ((f & VM_MERGEABLE) == 0 && ksm_compatible(vma_file(v), f)) vma_set_flags(v, f | VM_MERGEABLE);
    }
    return 0;
  }
  if (!mm_merge_any(mm)) return 0;
  for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
    const f = vma_flags(v);
    if ((f & VM_MERGEABLE) == 0) continue;
    unshare_ksm_range(mm, vma_start(v), vma_end(v));
    vma_set_flags(v, f & ~VM_MERGEABLE);
  }
  mm_set_merge_any(mm, false);
  return 0;
}
