// ksmd, mirroring bindings/reference/ksmd.ts (after mm/ksm.c): the mm_slot
// list and scan cursor, one rmap_item per scanned page, cmp_and_merge_page(),
// smart scan, zero-page merging, the simulated clock, unmerging (run = 2),
// and the counters of /sys/kernel/mm/ksm and /proc/PID/ksm_stat. The rest
// of mm/ksm.c: the records (ksm_types.ts), the stable tree (ksm_stable.ts),
// the unstable tree (ksm_unstable.ts, the reference's unstable_search_insert
// with the Wasm engine's shortcuts), the knobs and reports (ksm_sysfs.ts),
// the advisor (ksm_advisor.ts).
//
// Where the reference keeps arrays, the records keep the kernel's lists:
// a slot's rmap_items are a singly linked list in address order with the
// cursor a pointer to the link to follow (ksm_scan.rmap_list), so a visit
// never searches; a chain's dups are a doubly linked list, head first, as
// the reference's array is ordered; a stable node's items are a list of
// link records, one per membership, that may also hold dead links of items
// gone from the node (hlist_unlink_item() in ksm_stable.ts: no result
// depends on that list's order, only on the node's count and the items'
// own flags).

import { CLASS_ITEM, CLASS_LINK, CLASS_NODE, CLASS_SLOT, block_alloc, block_alloc_hot, block_free, block_reserve } from "./alloc";
import { ENOMEM, SW_KSM_SMART_SCAN, VM_MERGEABLE } from "./generated/facts";
import { sw } from "./kernel";
import { advisor_start_scan, advisor_stop_scan } from "./ksm_advisor";
import {
  hlist_unlink_item, is_stale, remove_all_stable_nodes, remove_node, stable_tree_append, stable_tree_insert, stable_tree_search,
} from "./ksm_stable";
import { partnerPage, unstable_erase, unstable_pass_start, unstable_search_insert } from "./ksm_unstable";
import {
  kAdvisorMaxCpu, kAdvisorMaxPages, kAdvisorMode, kAdvisorTargetScanTime, kPagesToScan, kRun, kSleepMs, kSmartScan,
  kUseZeroPages,
} from "./ksm_sysfs";
import {
  BATCH_US, ITEM_SIZE, IT_NEXT, JIFFY_MS, PAGE_US, SL_ITEMS, STABLE, UNSTABLE, arena_reserve_n, calc_checksum, it_address, it_age,
  it_checksum, it_flags, it_head, it_mm, it_next, it_seq, it_set_age, it_set_checksum, it_set_flags,
  it_set_address, it_set_head, it_set_mm, it_set_skips, it_set_unode, it_skips, it_unode, nd_item_count, nd_set_item_count,
  sl_mm, sl_next, sl_prev, sl_set_next, sl_set_prev,
} from "./ksm_types";
import {
  KSM_ZERO_PAGE, mm_exited, mm_ksm_merging_pages, mm_ksm_rmap_items, mm_ksm_slot, mm_ksm_zero_pages, mm_page_count,
  mm_set_ksm_merging_pages, mm_set_ksm_registered, mm_set_ksm_rmap_items, mm_set_ksm_slot, mm_set_ksm_zero_pages, page_content,
  page_mapcount, page_set_mapcount, page_stable, vma_anon, vma_end, vma_flags, vma_start,
} from "./mm_types";
import {
  LEAF_PAGES, NO_PAGE, leaf_base, leaf_slot, pt_count_ksm, pt_next, pt_replace, pt_warm_leaf, ptLeaf, ptPage, page_unmap, unshare_ksm_range,
} from "./pages";
import { treeGen, tree_find, tree_next } from "./tree";
import { tree_iter_first, tree_iter_next } from "./tree_iter";

// ---- ksmd's state ---------------------------------------------------------------------
let slotHead: usize = 0;
let slotTail: usize = 0;
let slotCount: u32 = 0;
/** The scan cursor: slot (0: the list head, between passes), next page, the link to the next item. */
let curSlot: usize = 0;
let curAddr: u64 = 0;
let curLink: usize = 0;
export let seqnr: i64 = 0;
export const stableRoot = memory.data(4);
/** Simulated time (ms). */
export let clock: f64 = 0;
/** ksmd's CPU time (ns, task_sched_runtime()): the batch cost model, whatever sleep_millisecs is. */
export let runtime: u64 = 0;
export let pagesShared: i64 = 0;
export let pagesSharing: i64 = 0;
export let pagesUnshared: i64 = 0;
export let rmapItems: i64 = 0;
export let chains: i64 = 0;
export let dups: i64 = 0;
export let pagesScanned: i64 = 0;
export let pagesSkipped: i64 = 0;
export let zeroPages: i64 = 0;
/** A scan stopped because memory for an rmap_item or a stable node could not be had. */
let outOfMemory = false;

/** The global ksm_zero_pages counter moves (pages.ts, fork.ts). */
export function ksm_zero_pages_add(delta: i64): void {
  zeroPages += delta;
}

// ---- registration ------------------------------------------------------------------------

/** Room for ksm_enter's slot; false if memory is exhausted. */
export function ksm_reserve_slot(): bool {
  return block_reserve(CLASS_SLOT, 1);
}

/** __ksm_enter(): add mm to ksmd's list, just before the cursor (at the tail when between passes). */
export function ksm_enter(mm: usize): void {
  if (mm_ksm_slot(mm) != 0) return;
  mm_set_ksm_registered(mm, true);
  const slot = block_alloc(CLASS_SLOT);
  if (slot == 0) abort("vmasim internal error: mm_slot not reserved");
  store<u32>(slot, <u32>mm, 0);
  mm_set_ksm_slot(mm, slot);
  slotCount++;
  if (curSlot == 0 || kRun == 2) {
    sl_set_prev(slot, slotTail);
    if (slotTail != 0) sl_set_next(slotTail, slot);
    else slotHead = slot;
    slotTail = slot;
  } else {
    const before = sl_prev(curSlot);
    sl_set_prev(slot, before);
    sl_set_next(slot, curSlot);
    sl_set_prev(curSlot, slot);
    if (before != 0) sl_set_next(before, slot);
    else slotHead = slot;
  }
}

/**
 * __ksm_exit(): the mm is exiting (called before exit_mmap). Its slot is
 * freed at once only when that is easy: ksmd's cursor is not on it and it
 * has no rmap_items. Otherwise it stays listed, moved just after the
 * cursor's slot (the front of the list between passes), and ksmd frees its
 * rmap_items when it next reaches it: the counters lag until then.
 */
export function __ksm_exit(mm: usize): void {
  const slot = mm_ksm_slot(mm);
  if (slot == 0 || slot == curSlot) return;
  if (load<u32>(slot + SL_ITEMS) == 0) {
    slot_remove(slot);
    return;
  }
  // list_move() after the cursor's slot (list_del, then insert).
  const p = sl_prev(slot);
  const n = sl_next(slot);
  if (p != 0) sl_set_next(p, n);
  else slotHead = n;
  if (n != 0) sl_set_prev(n, p);
  else slotTail = p;
  const after = curSlot == 0 ? slotHead : sl_next(curSlot);
  const before = curSlot;
  sl_set_prev(slot, before);
  sl_set_next(slot, after);
  if (before != 0) sl_set_next(before, slot);
  else slotHead = slot;
  if (after != 0) sl_set_prev(after, slot);
  else slotTail = slot;
}

function slot_remove(slot: usize): void {
  const p = sl_prev(slot);
  const n = sl_next(slot);
  if (p != 0) sl_set_next(p, n);
  else slotHead = n;
  if (n != 0) sl_set_prev(n, p);
  else slotTail = p;
  slotCount--;
  const mm = sl_mm(slot);
  mm_set_ksm_slot(mm, 0);
  mm_set_ksm_registered(mm, false);
  block_free(CLASS_SLOT, slot);
}

// ---- rmap items and the trees --------------------------------------------------------------

function item_free(item: usize): void {
  remove_rmap_item_from_tree(item);
  rmapItems--;
  const mm = it_mm(item);
  mm_set_ksm_rmap_items(mm, mm_ksm_rmap_items(mm) - 1);
  block_free(CLASS_ITEM, item);
}

/** Take item out of whichever tree holds it, with the counters (remove_rmap_item_from_tree()): inline for the usual item in none. */
// @ts-ignore: decorator
@inline function remove_rmap_item_from_tree(item: usize): void {
  const flags = it_flags(item);
  if (flags != 0) rmap_item_leave_tree(item, flags);
}

/** The rest of remove_rmap_item_from_tree() for an item in a tree (flags: its STABLE or UNSTABLE flag). */
function rmap_item_leave_tree(item: usize, flags: u32): void {
  if ((flags & STABLE) != 0) {
    const node = it_head(item);
    if (is_stale(node)) {
      remove_node(node);
      return;
    }
    // Counted out of the node's items and out of its list (its link dies: hlist_unlink_item()).
    const left = nd_item_count(node) - 1;
    nd_set_item_count(node, left);
    if (left > 0) pagesSharing--;
    else pagesShared--;
    const mm = it_mm(item);
    mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) - 1);
    it_set_head(item, 0);
    it_set_flags(item, 0);
    hlist_unlink_item(item);
  } else if ((flags & UNSTABLE) != 0) {
    // Inserted this pass: really in the tree. From an earlier pass: the tree was reset since.
    if (((<u32>seqnr - it_seq(item)) & 0xff) == 0) unstable_erase(it_unode(item));
    pagesUnshared--;
    it_set_unode(item, 0);
    it_set_flags(item, 0);
  }
}

/** Point item's page table entry (at pte, or looked up if 0) at kpage instead of page (replace_page()). */
function replace_page(item: usize, page: usize, kpage: usize, pte: usize): void {
  if (page == kpage) return;
  page_unmap(page);
  page_set_mapcount(kpage, page_mapcount(kpage) + 1);
  if (pte != 0) store<u32>(pte, <u32>kpage);
  else pt_replace(it_mm(item), it_address(item), kpage);
}

/** With use_zero_pages, a zero-filled page is replaced by the zero page (try_to_merge_one_page + ZERO). */
function try_zero_page_merge(item: usize, page: usize): bool {
  if (kUseZeroPages == 0 || page_content(page) != 0) return false;
  page_unmap(page);
  const mm = it_mm(item);
  pt_replace(mm, it_address(item), KSM_ZERO_PAGE);
  mm_set_ksm_zero_pages(mm, mm_ksm_zero_pages(mm) + 1);
  zeroPages++;
  return true;
}

/**
 * The heart of ksmd: one processed visit of item's page (cmp_and_merge_page()),
 * whose page table entry the scan found at pte.
 */
function cmp_and_merge_page(page: usize, item: usize, pte: usize): void {
  const node = page_stable(page);
  if (node != 0) {
    if (!is_stale(node) && it_head(item) == node) return;
  } else {
    remove_rmap_item_from_tree(item);
    const c = calc_checksum(page_content(page));
    if (c != it_checksum(item)) {
      it_set_checksum(item, c);
      return;
    }
    if (try_zero_page_merge(item, page)) return;
  }
  const kpage = stable_tree_search(page);
  if (kpage == page && it_head(item) == node && node != 0) return;
  remove_rmap_item_from_tree(item);
  if (kpage != 0) {
    replace_page(item, page, kpage, pte);
    stable_tree_append(item, page_stable(kpage));
    return;
  }
  const tItem = unstable_search_insert(item, page);
  if (tItem != 0) {
    const tPage = partnerPage;
    // merge_two_pages(): page becomes the KSM page, the partner maps it too.
    remove_rmap_item_from_tree(tItem);
    replace_page(tItem, tPage, page, 0);
    const n = stable_tree_insert(page);
    stable_tree_append(tItem, n);
    stable_tree_append(item, n);
  }
}

// ---- the scan --------------------------------------------------------------------------------

/** Smart scan: skip pages that did not merge for a while (should_skip_rmap_item()). */
function should_skip(page: usize, item: usize): bool {
  // Before 6.7 (SW_KSM_SMART_SCAN off) there is no smart scan: nothing is skipped.
  if (!sw(SW_KSM_SMART_SCAN) || kSmartScan == 0 || page_stable(page) != 0) return false;
  const age = it_age(item);
  if (age < 255) it_set_age(item, age + 1);
  if (age < 3) return false;
  const skips = it_skips(item);
  if (skips == 0) {
    it_set_skips(item, age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8);
    return false;
  }
  it_set_skips(item, skips - 1);
  pagesSkipped++;
  remove_rmap_item_from_tree(item);
  return true;
}

/** A new rmap_item of mm for address (reserved beforehand), linked at link, before next (alloc_rmap_item()). */
// @ts-ignore: decorator
@inline function alloc_rmap_item(mm: usize, address: u64, next: usize, link: usize): usize {
  const item = block_alloc_hot(CLASS_ITEM, ITEM_SIZE);
  if (item == 0) abort("vmasim internal error: rmap_item not reserved");
  it_set_mm(item, mm);
  it_set_address(item, address);
  store<u32>(item, <u32>next, IT_NEXT);
  store<u32>(link, <u32>item);
  return item;
}

/** The item for address in slot at the cursor, freeing the ones before it (get_next_rmap_item()). */
function get_next_rmap_item(mm: usize, address: u64): usize {
  const link = curLink;
  let at = <usize>load<u32>(link);
  while (at != 0 && it_address(at) < address) {
    store<u32>(link, load<u32>(at, IT_NEXT));
    item_free(at);
    at = <usize>load<u32>(link);
  }
  if (at != 0 && it_address(at) == address) {
    itemMade = false;
    return at;
  }
  itemMade = true;
  const item = alloc_rmap_item(mm, address, at, link);
  rmapItems++;
  mm_set_ksm_rmap_items(mm, mm_ksm_rmap_items(mm) + 1);
  return item;
}

/** The last get_next_rmap_item made the item it returned. */
let itemMade = false;

/** The leaf scan_mm last read ahead (pt_warm_leaf), and what the read-aheads loaded (kept so that they stay). */
let warmedLeaf: usize = 0;
export let warmSink: u32 = 0;

/** The page of the item scan_get_next_rmap_item returned. */
let scanPage: usize = 0;
/** The VMA of the last page (scanLast) scan_mm returned, in scanMm, while the VMA trees were at scanGen. */
let scanVma: usize = 0;
let scanMm: usize = 0;
let scanGen: u32 = 0;
let scanLast: u64 = 0;
/** The last page's leaf, and where a run from it can go (the leaf's or the VMA's end); its item was just made (scanNew). */
let scanLeaf: usize = 0;
let scanStop: u64 = 0;
let scanNew = false;

/** The next page of mm to process at or after the cursor (its item; its page in scanPage), advancing the cursor; 0 at the end. */
function scan_mm(mm: usize): usize {
  // find_vma(curAddr): the last page's VMA while no tree changed and the cursor is after that page and below the VMA's end.
  const same = mm == scanMm && treeGen == scanGen && curAddr > scanLast && curAddr < vma_end(scanVma);
  let v = same ? scanVma : tree_find(mm, curAddr);
  for (; v != 0; v = tree_next(mm, v)) {
    const f = vma_flags(v);
    if ((f & VM_MERGEABLE) == 0) continue;
    if (curAddr < vma_start(v)) curAddr = vma_start(v);
    const end = vma_end(v);
    if (vma_anon(v) == 0) {
      curAddr = end;
      continue;
    }
    let at = curAddr;
    for (;;) {
      const address = pt_next(mm, at, end);
      if (address == NO_PAGE) break;
      const page = ptPage;
      at = address + 1;
      if (ptLeaf != warmedLeaf) {
        // A new leaf: its pages' records, all at once.
        warmedLeaf = ptLeaf;
        const base = leaf_base(address);
        warmSink += pt_warm_leaf(ptLeaf, <u32>(address - base), <u32>min(end - base, LEAF_PAGES));
      }
      if (page == KSM_ZERO_PAGE) continue;
      curAddr = address;
      const item = get_next_rmap_item(mm, address);
      curLink = item + IT_NEXT;
      curAddr = address + 1;
      if (should_skip(page, item)) continue;
      scanPage = page;
      scanVma = v;
      scanMm = mm;
      scanGen = treeGen;
      scanLast = address;
      scanLeaf = ptLeaf;
      scanStop = min(leaf_base(address) + LEAF_PAGES, end);
      scanNew = itemMade;
      return item;
    }
    curAddr = end;
  }
  return 0;
}

/**
 * First visits in a row, the bulk of a pass over fresh memory: after a
 * visit that made its page's rmap_item, the next present pages of the same
 * leaf and VMA, up to the cursor's next item, are first visits too unless
 * one is a KSM page (where this stops). Each gets its item and checksum
 * exactly as scan_get_next_rmap_item() and cmp_and_merge_page() would give
 * them (a new item is never skipped by smart scan, whose age it starts, and
 * is never searched for), without going back through them. At most limit
 * visits (reserved by the caller); returns how many.
 */
function first_visits(limit: u32): u32 {
  const mm = scanMm;
  const leaf = scanLeaf;
  const smart = sw(SW_KSM_SMART_SCAN) && kSmartScan != 0;
  const next = <usize>load<u32>(curLink);
  const stop = next != 0 && it_address(next) < scanStop ? it_address(next) : scanStop;
  let link = curLink;
  let done: u32 = 0;
  let address = curAddr;
  for (; address < stop && done < limit; address++) {
    const page = <usize>load<u32>(leaf_slot(leaf, address));
    if (page == 0 || page == KSM_ZERO_PAGE) continue;
    if (page_stable(page) != 0) break;
    const item = alloc_rmap_item(mm, address, next, link);
    it_set_checksum(item, calc_checksum(page_content(page)));
    if (smart) it_set_age(item, 1);
    link = item + IT_NEXT;
    scanLast = address;
    scanPage = page;
    done++;
  }
  curLink = link;
  curAddr = address;
  rmapItems += done;
  mm_set_ksm_rmap_items(mm, mm_ksm_rmap_items(mm) + done);
  return done;
}

/**
 * Visits of pages that have their items, in a row: after a visit of a page
 * with an item, the cursor's next items whose pages follow in the same
 * leaf and VMA, with no page between that has no item, are visited here:
 * smart scan, then cmp_and_merge_page(), as scan_get_next_rmap_item() and
 * ksm_do_scan() would do for each, without going back through them (a
 * visit changes no VMA, frees no leaf and no item of this mm's list). At
 * most limit visits (reserved by the caller); returns how many.
 */
function items_in_a_row(limit: u32): u32 {
  const leaf = scanLeaf;
  let done: u32 = 0;
  while (done < limit) {
    const item = <usize>load<u32>(curLink);
    if (item == 0) break;
    const a = it_address(item);
    if (a >= scanStop) break;
    let x = curAddr;
    while (x < a && load<u32>(leaf_slot(leaf, x)) == 0) x++;
    if (x < a) break;
    const pte = leaf_slot(leaf, a);
    const page = <usize>load<u32>(pte);
    if (page <= KSM_ZERO_PAGE) break;
    curLink = item + IT_NEXT;
    curAddr = a + 1;
    // Merged already (the item in its page's stable node): smart scan never skips it and there is nothing to do.
    const node = page_stable(page);
    if (node == 0 || is_stale(node) || it_head(item) != node) {
      if (should_skip(page, item)) continue;
      cmp_and_merge_page(page, item, pte);
    }
    scanLast = a;
    scanPage = page;
    done++;
  }
  return done;
}

/** The next page to process (its item; the page in scanPage), or 0 at the end of a pass (scan_get_next_rmap_item()). */
function scan_get_next_rmap_item(): usize {
  if (slotCount == 0) return 0;
  if (curSlot == 0) {
    // A new pass: the advisor notes its start; the unstable tree starts empty; old items keep their flag.
    advisor_start_scan(kAdvisorMode, clock);
    unstable_pass_start();
    curSlot = slotHead;
    curAddr = 0;
    curLink = curSlot + SL_ITEMS;
  }
  while (curSlot != 0) {
    const slot = curSlot;
    const mm = sl_mm(slot);
    // ksm_test_exit(): an exiting mm has no VMAs to scan; the cursor goes back to its
    // first rmap_item so that all of them are freed below and the slot with them (no_vmas).
    const exiting = mm_exited(mm);
    const found: usize = exiting ? 0 : scan_mm(mm);
    if (found != 0) return found;
    if (exiting) {
      curAddr = 0;
      curLink = slot + SL_ITEMS;
    }
    // End of this mm: free the items beyond the cursor.
    let it = <usize>load<u32>(curLink);
    store<u32>(curLink, 0);
    while (it != 0) {
      const next = it_next(it);
      item_free(it);
      it = next;
    }
    curSlot = sl_next(slot);
    if (curAddr == 0) slot_remove(slot);
    curAddr = 0;
    curLink = curSlot + SL_ITEMS;
  }
  kPagesToScan = advisor_stop_scan(
    kAdvisorMode, clock, runtime, kPagesToScan, kAdvisorTargetScanTime, kAdvisorMaxCpu, kAdvisorMaxPages,
  );
  seqnr++;
  return 0;
}

/** Room for n visits: an rmap_item each, the two stable nodes and two item links a merge can make, an unstable-tree node. */
function reserve_visits(n: u32): bool {
  return block_reserve(CLASS_ITEM, n) && block_reserve(CLASS_NODE, 2 * n) && block_reserve(CLASS_LINK, 2 * n) && arena_reserve_n(n);
}
const RESERVE_AHEAD: u32 = 64;

/**
 * One batch of at most pages_to_scan processed pages; stops at the end of a
 * pass (ksm_do_scan()), or between two visits if memory runs out
 * (outOfMemory). Returns the pages processed.
 */
function ksm_do_scan(): f64 {
  let done: f64 = 0;
  // Visits whose records are reserved: RESERVE_AHEAD at a time, one at a time when memory is short.
  let ready: u32 = 0;
  for (let n = kPagesToScan; n > 0; n--) {
    if (ready == 0) {
      if (reserve_visits(RESERVE_AHEAD)) ready = RESERVE_AHEAD;
      else if (reserve_visits(1)) ready = 1;
      else {
        outOfMemory = true;
        break;
      }
    }
    ready--;
    const item = scan_get_next_rmap_item();
    if (item == 0) break;
    cmp_and_merge_page(scanPage, item, leaf_slot(scanLeaf, scanLast));
    pagesScanned++;
    done++;
    if (n > 1 && ready > 0) {
      const limit = <f64>ready < n - 1 ? ready : <u32>(n - 1);
      const k = scanNew ? first_visits(limit) : items_in_a_row(limit);
      n -= k;
      ready -= k;
      pagesScanned += k;
      done += k;
    }
  }
  return done;
}

/** ksmd has work: run = 1 and some mm registered (ksmd_should_run()). */
function should_run(): bool {
  return (<i32>kRun & 1) == 1 && slotCount > 0;
}

/**
 * Simulated time from one batch to the next: the sleep in whole jiffies
 * (msecs_to_jiffies rounds up). With sleep_millisecs=0 ksmd never sleeps;
 * the batch itself is then charged 10 us plus 2 us per processed page.
 */
function batch_ms(processed: f64): f64 {
  if (kSleepMs == 0) return BATCH_US / 1000 + (processed * PAGE_US) / 1000;
  return Math.ceil(kSleepMs / JIFFY_MS) * JIFFY_MS;
}

/**
 * One turn of ksm_scan_thread(): a batch, its CPU cost added to ksmd's
 * runtime (10 us plus 2 us per processed page, always), then the time until
 * the next batch on the clock.
 */
function ksm_scan_thread_turn(): void {
  const processed = ksm_do_scan();
  runtime += <u64>(BATCH_US * 1000 + processed * PAGE_US * 1000);
  clock += batch_ms(processed);
}

/** Run ksmd until n more passes are complete: 0, -1 if it cannot (stopped or nothing to scan), -ENOMEM. */
export function scan_passes(n: f64): f64 {
  const target = <f64>seqnr + n;
  outOfMemory = false;
  while (<f64>seqnr < target) {
    if (!should_run() || kPagesToScan == 0) return -1;
    ksm_scan_thread_turn();
    if (outOfMemory) return -<f64>ENOMEM;
  }
  return 0;
}

/** Run ksmd for ms of simulated time (an idle ksmd just lets the time pass): 0 or -ENOMEM. */
export function run_for(ms: f64): f64 {
  const end = clock + ms;
  outOfMemory = false;
  while (clock < end) {
    if (!should_run() || kPagesToScan == 0) {
      clock = end;
      return 0;
    }
    ksm_scan_thread_turn();
    if (outOfMemory) return -<f64>ENOMEM;
  }
  return 0;
}

// ---- unmerging ---------------------------------------------------------------------------------

/** The pages unmerge_all may make (KSM pages and zero pages mapped in registered mms). */
export function unmerge_all_pages(): u64 {
  let n: u64 = 0;
  for (let s = slotHead; s != 0; s = sl_next(s)) {
    const mm = sl_mm(s);
    if (mm_page_count(mm) != 0) n += pt_count_ksm(mm, 0, u64.MAX_VALUE);
  }
  return n;
}

/** run = 2: unshare every KSM page in mergeable VMAs, free every item, drop unmapped nodes (unmerge_and_remove_all_rmap_items()). */
export function unmerge_all(): void {
  for (let s = slotHead; s != 0; s = sl_next(s)) {
    const mm = sl_mm(s);
    for (let v = tree_iter_first(mm); v != 0; v = tree_iter_next()) {
      if ((vma_flags(v) & VM_MERGEABLE) != 0) unshare_ksm_range(mm, vma_start(v), vma_end(v));
    }
    let it = <usize>load<u32>(s + SL_ITEMS);
    store<u32>(s + SL_ITEMS, 0);
    while (it != 0) {
      const next = it_next(it);
      item_free(it);
      it = next;
    }
  }
  // An exiting mm's slot goes with its items (ksm_test_exit() in the same loop).
  let s = slotHead;
  while (s != 0) {
    const next = sl_next(s);
    if (mm_exited(sl_mm(s))) slot_remove(s);
    s = next;
  }
  remove_all_stable_nodes();
  curSlot = 0;
  seqnr = 0;
}
