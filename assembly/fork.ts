// fork(2), mirroring bindings/reference/fork.ts: the VMAs, the pages they map, ksm_fork().

import { SW_KSM_FORK_RESETS_COUNTERS, VM_DONTCOPY, VM_LOCKED_MASK, VM_WIPEONFORK } from "./generated/facts";
import { anon_vma_alloc, mm_create, mm_of, sw } from "./kernel";
import { ksm_enter, ksm_zero_pages_add } from "./ksmd";
import {
  mm_ksm_merging_pages, mm_ksm_registered, mm_ksm_rmap_items, mm_ksm_zero_pages, mm_map_count, mm_merge_any,
  mm_set_ksm_merging_pages, mm_set_ksm_rmap_items, mm_set_ksm_zero_pages, mm_set_merge_any, vma_anon,
  vma_chain, vma_dup, vma_end, vma_flags, vma_set_anon, vma_set_chain, vma_set_flags, vma_start,
} from "./mm_types";
import { copy_page_range, pt_leaf_count, pt_reserve } from "./pages";
import { tree_insert, tree_reserve_build } from "./tree";
import { tree_iter_first, tree_iter_next } from "./tree_iter";

/** dup_mmap(): the child's pid, or 0 if memory is exhausted (nothing created then). */
export function dup_mmap(parentPid: u32): u32 {
  const parent = mm_of(parentPid);
  const pid = mm_create();
  if (pid == 0) return 0;
  const child = mm_of(pid);
  mm_set_merge_any(child, mm_merge_any(parent));
  if (!tree_reserve_build(child, <i32>mm_map_count(parent)) || !pt_reserve(child, 0, pt_leaf_count(parent))) return 0;
  // ksm_fork(): a registered parent's child is registered too. Its rmap_items and
  // merging pages start at 0, but ksm_zero_pages is the parent's counter, copied
  // with the mm (even zero pages in VMAs the child does not get), and is added
  // to the global counter.
  if (mm_ksm_registered(parent)) ksm_enter(child);
  mm_set_ksm_zero_pages(child, mm_ksm_zero_pages(parent));
  ksm_zero_pages_add(<i64>mm_ksm_zero_pages(child));
  // Before the 2025 fix (SW_KSM_FORK_RESETS_COUNTERS off) the child counts on from the parent's copied values.
  if (!sw(SW_KSM_FORK_RESETS_COUNTERS)) {
    mm_set_ksm_rmap_items(child, mm_ksm_rmap_items(parent));
    mm_set_ksm_merging_pages(child, mm_ksm_merging_pages(parent));
  }
  for (let v = tree_iter_first(parent); v != 0; v = tree_iter_next()) {
    if ((vma_flags(v) & VM_DONTCOPY) != 0) continue;
    const tmp = vma_dup(v);
    vma_set_flags(tmp, vma_flags(tmp) & ~VM_LOCKED_MASK);
    if ((vma_flags(v) & VM_WIPEONFORK) != 0 || vma_anon(v) == 0) {
      vma_set_anon(tmp, 0);
      vma_set_chain(tmp, 0);
    } else {
      vma_set_anon(tmp, anon_vma_alloc());
      vma_set_chain(tmp, vma_chain(v) + 1);
      copy_page_range(parent, child, vma_start(v), vma_end(v));
    }
    tree_insert(child, tmp);
  }
  return pid;
}
