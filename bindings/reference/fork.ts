/**
 * fork(2) as the VMA layer sees it (dup_mmap(), anon_vma_fork()): every VMA
 * but VM_DONTCOPY ones is copied 1:1, no merging; faulted VMAs give the child
 * a new anon_vma chained to the parent's, which makes it a "fork child".
 */
import { VM_DONTCOPY, VM_LOCKED_MASK, VM_WIPEONFORK } from "../kernel/facts.js";
import { vmAny, vmClear } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { Mm } from "./mm_types.js";
import { copy_page_range } from "./pages.js";

export function dup_mmap(k: Kernel, parent: Mm, pid: number): Mm {
  const child = new Mm(pid);
  child.mergeAny = parent.mergeAny;
  // ksm_fork(): a registered parent's child is registered too. Its rmap_items and
  // merging pages start at 0, but ksm_zero_pages is the parent's counter, copied
  // with the mm (even zero pages in VMAs the child does not get), and is added
  // to the global counter.
  if (parent.ksmRegistered) k.ksm.ksm_enter(child);
  child.ksmZeroPages = parent.ksmZeroPages;
  k.ksm.zeroPages += child.ksmZeroPages;
  // Before the 2025 fix (switch ksmForkResetsCounters off) nothing zeroes the
  // copied rmap_items and merging pages counters: the child counts on from the
  // parent's values.
  if (!k.switches.ksmForkResetsCounters) {
    child.ksmRmapItems = parent.ksmRmapItems;
    child.ksmMergingPages = parent.ksmMergingPages;
  }
  for (const vma of parent.tree.all()) {
    if (vmAny(vma.flags, VM_DONTCOPY)) continue;
    const tmp = vma.dup();
    tmp.flags = vmClear(tmp.flags, VM_LOCKED_MASK);
    if (vmAny(vma.flags, VM_WIPEONFORK) || vma.anonVma === null) {
      // A wiped VMA starts unfaulted in the child.
      tmp.anonVma = null;
      tmp.anonChain = 0;
    } else {
      tmp.anonVma = k.anonVmaAlloc();
      tmp.anonChain = vma.anonChain + 1;
      copy_page_range(parent, child, vma.start, vma.end);
    }
    child.tree.insert(tmp);
  }
  return child;
}
