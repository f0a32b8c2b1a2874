// fork(2) as the VMA layer sees it, mirroring bindings/reference/fork.ts.

import { VM_DONTCOPY, VM_LOCKED_MASK, VM_WIPEONFORK } from "./generated/facts";
import { anon_vma_alloc, mm_create, mm_of } from "./kernel";
import {
  mm_ksm_registered, mm_map_count, mm_merge_any, mm_set_ksm_registered, mm_set_merge_any, vma_anon, vma_chain, vma_dup,
  vma_flags, vma_set_anon, vma_set_chain, vma_set_flags,
} from "./mm_types";
import { tree_insert, tree_iter_first, tree_iter_next, tree_reserve_build } from "./tree";

/** dup_mmap(): the child's pid, or 0 if memory is exhausted (nothing created then). */
export function dup_mmap(parentPid: u32): u32 {
  const parent = mm_of(parentPid);
  const pid = mm_create();
  if (pid == 0) return 0;
  const child = mm_of(pid);
  mm_set_merge_any(child, mm_merge_any(parent));
  mm_set_ksm_registered(child, mm_ksm_registered(parent));
  if (!tree_reserve_build(child, <i32>mm_map_count(parent))) return 0;
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
    }
    tree_insert(child, tmp);
  }
  return pid;
}
