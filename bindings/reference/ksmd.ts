/**
 * ksmd, after mm/ksm.c: the Ksm state (knobs, mm_slot list and scan cursor,
 * both trees' roots, clock, counters), one rmap_item per scanned page, the
 * unstable tree rebuilt every pass, cmp_and_merge_page with smart scan and
 * zero-page merging, the batches' pacing, run=2's unmerging. The rest of
 * mm/ksm.c is beside it: the records in ksm_types.ts, the stable tree (chains
 * and dups under max_page_sharing) in ksm_stable.ts, /sys/kernel/mm/ksm and
 * /proc/PID/ksm_stat in ksm_sysfs.ts, the advisor in ksm_advisor.ts. Both
 * trees are red-black trees (rbtree.ts) ordered by memcmp of page contents.
 */
import { VM_MERGEABLE } from "../kernel/facts.js";
import { vmAny } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { AdvisorCtx, advisor_start_scan, advisor_stop_scan } from "./ksm_advisor.js";
import {
  is_stale, remove_all_stable_nodes, remove_node, stable_tree_append, stable_tree_insert, stable_tree_search,
} from "./ksm_stable.js";
import {
  BATCH_US, JIFFY_MS, type KsmKnobs, MmSlot, PAGE_US, RmapItem, STABLE, type StableNode, UNSTABLE, calc_checksum, memcmp_pages,
} from "./ksm_types.js";
import { KSM_ZERO_PAGE, type Mm, type Page, type Vma } from "./mm_types.js";
import { first_page_at, sorted_pages, unshare_ksm_range } from "./pages.js";
import { RbRoot, rb_erase, rb_insert_color, rb_link_node } from "./rbtree.js";

export class Ksm {
  readonly knobs: KsmKnobs = {
    run: 0, pages_to_scan: 100, sleep_millisecs: 20, max_page_sharing: 256, use_zero_pages: 0, smart_scan: 1,
    merge_across_nodes: 1, stable_node_chains_prune_millisecs: 2000, advisor_mode: 0, advisor_target_scan_time: 200,
    advisor_min_pages_to_scan: 500, advisor_max_pages_to_scan: 30000, advisor_max_cpu: 70,
  };
  private readonly slots: MmSlot[] = [];
  private readonly slotOf = new Map<Mm, MmSlot>();
  /** The scan cursor: slot index (-1: the list head, between passes), next page, next item index. */
  private curSlot = -1;
  private curAddr = 0;
  private curLink = 0;
  seqnr = 0;
  readonly stableRoot = new RbRoot<StableNode>();
  private unstableRoot = new RbRoot<RmapItem>();
  nextNodeId = 1;
  /** Simulated time (ms). */
  clock = 0;
  /** ksmd's CPU time (ns, task_sched_runtime()): the batch cost model, whatever sleep_millisecs is. */
  runtime = 0n;
  /** The scan-time advisor's state (struct advisor_ctx). */
  readonly advisor = new AdvisorCtx();
  pagesShared = 0;
  pagesSharing = 0;
  pagesUnshared = 0;
  rmapItems = 0;
  chains = 0;
  dups = 0;
  pagesScanned = 0;
  pagesSkipped = 0;
  zeroPages = 0;

  constructor(readonly k: Kernel) {}

  // ---- registration ---------------------------------------------------------

  /** __ksm_enter(): add mm to ksmd's list, just before the cursor (at the tail when between passes). */
  ksm_enter(mm: Mm): void {
    if (this.slotOf.has(mm)) return;
    mm.ksmRegistered = true;
    const slot = new MmSlot(mm);
    this.slotOf.set(mm, slot);
    if (this.curSlot < 0 || this.knobs.run === 2) {
      this.slots.push(slot);
    } else {
      this.slots.splice(this.curSlot, 0, slot);
      this.curSlot++;
    }
  }

  /**
   * __ksm_exit(): the mm is exiting (called before exit_mmap). Its slot is
   * freed at once only when that is easy: ksmd's cursor is not on it and it
   * has no rmap_items. Otherwise it stays listed, moved just after the
   * cursor's slot (the front of the list between passes), and ksmd frees its
   * rmap_items when it next reaches it: the counters lag until then.
   */
  __ksm_exit(mm: Mm): void {
    const slot = this.slotOf.get(mm);
    if (slot === undefined) return;
    const i = this.slots.indexOf(slot);
    if (i === this.curSlot) return;
    if (slot.items.length === 0) {
      this.slot_remove(i);
      if (i < this.curSlot) this.curSlot--;
      return;
    }
    this.slots.splice(i, 1);
    if (i < this.curSlot) this.curSlot--;
    this.slots.splice(this.curSlot + 1, 0, slot);
  }

  private slot_remove(i: number): void {
    const slot = this.slots[i]!;
    this.slots.splice(i, 1);
    this.slotOf.delete(slot.mm);
    slot.mm.ksmRegistered = false;
  }

  // ---- rmap items and the trees ----------------------------------------------

  private item_free(item: RmapItem): void {
    this.remove_rmap_item_from_tree(item);
    this.rmapItems--;
    item.mm.ksmRmapItems--;
  }

  /** Take item out of whichever tree holds it, with the counters (remove_rmap_item_from_tree()). */
  private remove_rmap_item_from_tree(item: RmapItem): void {
    if (item.flags & STABLE) {
      const node = item.head!;
      if (is_stale(node)) {
        remove_node(this, node);
        return;
      }
      node.items.splice(node.items.indexOf(item), 1);
      if (node.items.length > 0) this.pagesSharing--;
      else this.pagesShared--;
      item.mm.ksmMergingPages--;
      item.head = null;
      item.flags = 0;
    } else if (item.flags & UNSTABLE) {
      // Inserted this pass: really in the tree. From an earlier pass: the tree was reset since.
      if (((this.seqnr - item.seq) & 0xff) === 0) rb_erase(item, this.unstableRoot);
      this.pagesUnshared--;
      item.flags = 0;
    }
  }

  /** Point item's page table entry at kpage instead of page (replace_page()). */
  private replace_page(item: RmapItem, page: Page, kpage: Page): void {
    if (page === kpage) return;
    page.mapcount--;
    kpage.mapcount++;
    item.mm.pages.set(item.address, kpage);
  }

  /**
   * get_mergeable_page(): the anonymous page item's address maps now, or null if
   * its VMA is gone or no longer mergeable with an anon_vma (find_mergeable_vma()).
   */
  private get_mergeable_page(item: RmapItem): Page | null {
    const vma = item.mm.tree.lookup(item.address);
    if (vma === null || !vmAny(vma.flags, VM_MERGEABLE) || vma.anonVma === null) return null;
    const page = item.mm.pages.get(item.address);
    return page === undefined || page === KSM_ZERO_PAGE ? null : page;
  }

  /** unstable_tree_search_insert(): a partner of equal content, or null after filing item. */
  private unstable_search_insert(item: RmapItem, page: Page): [RmapItem, Page] | null {
    let parent: RmapItem | null = null;
    let left = false;
    let cur = this.unstableRoot.node;
    while (cur !== null) {
      const tPage = this.get_mergeable_page(cur);
      // The partner's page is gone: give up without filing item (it stays volatile).
      if (tPage === null) return null;
      // The very same page (shared through fork) is never merged with itself.
      if (tPage === page) return null;
      const c = memcmp_pages(page.content, tPage.content);
      parent = cur;
      if (c < 0) {
        left = true;
        cur = cur.rbLeft;
      } else if (c > 0) {
        left = false;
        cur = cur.rbRight;
      } else {
        return [cur, tPage];
      }
    }
    rb_link_node(item, parent, left, this.unstableRoot);
    rb_insert_color(item, this.unstableRoot);
    item.flags = UNSTABLE;
    item.seq = this.seqnr & 0xff;
    this.pagesUnshared++;
    return null;
  }

  /** With use_zero_pages, a zero-filled page is replaced by the zero page (try_to_merge_one_page + ZERO). */
  private try_zero_page_merge(item: RmapItem, page: Page): boolean {
    if (!this.knobs.use_zero_pages || page.content !== 0n) return false;
    page.mapcount--;
    item.mm.pages.set(item.address, KSM_ZERO_PAGE);
    item.mm.ksmZeroPages++;
    this.zeroPages++;
    return true;
  }

  /** The heart of ksmd: one processed visit of item's page (cmp_and_merge_page()). */
  private cmp_and_merge_page(page: Page, item: RmapItem): void {
    const node = page.ksm ? (page.stable as StableNode | null) : null;
    if (node !== null) {
      if (!is_stale(node) && item.head === node) return;
    } else {
      this.remove_rmap_item_from_tree(item);
      const c = calc_checksum(page.content);
      if (c !== item.oldchecksum) {
        item.oldchecksum = c;
        return;
      }
      if (this.try_zero_page_merge(item, page)) return;
    }
    const kpage = stable_tree_search(this, page);
    if (kpage === page && item.head === node && node !== null) return;
    this.remove_rmap_item_from_tree(item);
    if (kpage !== null) {
      this.replace_page(item, page, kpage);
      stable_tree_append(this, item, kpage.stable as StableNode);
      return;
    }
    const partner = this.unstable_search_insert(item, page);
    if (partner !== null) {
      const [tItem, tPage] = partner;
      // merge_two_pages(): page becomes the KSM page, the partner maps it too.
      this.remove_rmap_item_from_tree(tItem);
      this.replace_page(tItem, tPage, page);
      const n = stable_tree_insert(this, page);
      stable_tree_append(this, tItem, n);
      stable_tree_append(this, item, n);
    }
  }

  // ---- the scan ----------------------------------------------------------------

  /** Smart scan: skip pages that did not merge for a while (should_skip_rmap_item()). */
  private should_skip(page: Page, item: RmapItem): boolean {
    // Before 6.7 (switch ksmSmartScan off) there is no smart scan: nothing is skipped.
    if (!this.k.switches.ksmSmartScan || !this.knobs.smart_scan || page.ksm) return false;
    const age = item.age;
    if (item.age < 255) item.age++;
    if (age < 3) return false;
    if (item.remainingSkips === 0) {
      item.remainingSkips = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
      return false;
    }
    item.remainingSkips--;
    this.pagesSkipped++;
    this.remove_rmap_item_from_tree(item);
    return true;
  }

  /** The item for address in slot at the cursor, freeing the ones before it (get_next_rmap_item()). */
  private get_next_rmap_item(slot: MmSlot, address: number): RmapItem {
    const items = slot.items;
    let drop = 0;
    while (this.curLink + drop < items.length && items[this.curLink + drop]!.address < address) {
      this.item_free(items[this.curLink + drop]!);
      drop++;
    }
    if (drop > 0) items.splice(this.curLink, drop);
    const at = items[this.curLink];
    if (at !== undefined && at.address === address) return at;
    const item = new RmapItem(slot.mm, address);
    items.splice(this.curLink, 0, item);
    this.rmapItems++;
    slot.mm.ksmRmapItems++;
    return item;
  }

  /** The next page to process, or null at the end of a pass (scan_get_next_rmap_item()). */
  private scan_get_next_rmap_item(): [RmapItem, Page] | null {
    if (this.slots.length === 0) return null;
    if (this.curSlot < 0) {
      // A new pass: the advisor notes its start; the unstable tree starts empty; old items keep their flag.
      advisor_start_scan(this.knobs, this.advisor, this.clock);
      this.unstableRoot = new RbRoot();
      this.curSlot = 0;
      this.curAddr = 0;
      this.curLink = 0;
    }
    while (this.curSlot < this.slots.length) {
      const slot = this.slots[this.curSlot]!;
      const mm = slot.mm;
      // ksm_test_exit(): an exiting mm has no VMAs to scan; the cursor goes back to its
      // first rmap_item so that all of them are freed below and the slot with them (no_vmas).
      const found = mm.exited ? null : this.scan_mm(slot, mm);
      if (found !== null) return found;
      if (mm.exited) {
        this.curAddr = 0;
        this.curLink = 0;
      }
      // End of this mm: free the items beyond the cursor.
      for (const item of slot.items.splice(this.curLink)) this.item_free(item);
      if (this.curAddr === 0) {
        this.slot_remove(this.curSlot);
      } else {
        this.curSlot++;
      }
      this.curAddr = 0;
      this.curLink = 0;
    }
    this.curSlot = -1;
    advisor_stop_scan(this.knobs, this.advisor, this.clock, this.runtime);
    this.seqnr++;
    return null;
  }

  /** The next scannable page of mm at or after the cursor, advancing it. */
  private scan_mm(slot: MmSlot, mm: Mm): [RmapItem, Page] | null {
    const pages = sorted_pages(mm);
    let vma: Vma | null = mm.tree.find(this.curAddr);
    for (; vma !== null; vma = mm.tree.next(vma)) {
      if (!vmAny(vma.flags, VM_MERGEABLE)) continue;
      if (this.curAddr < vma.start) this.curAddr = vma.start;
      if (vma.anonVma === null) {
        this.curAddr = vma.end;
        continue;
      }
      for (let i = first_page_at(pages, this.curAddr); i < pages.length && pages[i]! < vma.end; i++) {
        const address = pages[i]!;
        const page = mm.pages.get(address)!;
        if (page === KSM_ZERO_PAGE) continue;
        this.curAddr = address;
        const item = this.get_next_rmap_item(slot, address);
        this.curLink = slot.items.indexOf(item, this.curLink) + 1;
        this.curAddr = address + 1;
        if (this.should_skip(page, item)) continue;
        return [item, page];
      }
      this.curAddr = vma.end;
    }
    return null;
  }

  /** One batch of at most pages_to_scan processed pages; stops at the end of a pass (ksm_do_scan()). Returns the pages processed. */
  ksm_do_scan(): number {
    let done = 0;
    for (let n = this.knobs.pages_to_scan; n > 0; n--) {
      const next = this.scan_get_next_rmap_item();
      if (next === null) break;
      this.cmp_and_merge_page(next[1], next[0]);
      this.pagesScanned++;
      done++;
    }
    return done;
  }

  /** ksmd has work: run = 1 and some mm registered (ksmd_should_run()). */
  should_run(): boolean {
    return (this.knobs.run & 1) === 1 && this.slots.length > 0;
  }

  /**
   * Simulated time from one batch to the next: the sleep in whole jiffies
   * (msecs_to_jiffies rounds up). With sleep_millisecs=0 ksmd never sleeps;
   * the batch itself is then charged 10 us plus 2 us per processed page (the
   * order of the kernel's cost, ksm-spec §7), so that time still passes.
   */
  private batch_ms(processed: number): number {
    if (this.knobs.sleep_millisecs === 0) return BATCH_US / 1000 + (processed * PAGE_US) / 1000;
    return Math.ceil(this.knobs.sleep_millisecs / JIFFY_MS) * JIFFY_MS;
  }

  /**
   * One turn of ksm_scan_thread(): a batch, its CPU cost added to ksmd's
   * runtime (10 us plus 2 us per processed page, always), then the time until
   * the next batch on the clock.
   */
  private ksm_scan_thread_turn(): void {
    const processed = this.ksm_do_scan();
    this.runtime += BigInt(BATCH_US * 1000 + processed * PAGE_US * 1000);
    this.clock += this.batch_ms(processed);
  }

  /** Run ksmd until n more passes are complete; false if it cannot (stopped or nothing to scan). */
  scan_passes(n: number): boolean {
    const target = this.seqnr + n;
    while (this.seqnr < target) {
      if (!this.should_run() || this.knobs.pages_to_scan === 0) return false;
      this.ksm_scan_thread_turn();
    }
    return true;
  }

  /** Run ksmd for ms of simulated time (an idle ksmd just lets the time pass). */
  run_for(ms: number): void {
    const end = this.clock + ms;
    while (this.clock < end) {
      if (!this.should_run() || this.knobs.pages_to_scan === 0) {
        this.clock = end;
        return;
      }
      this.ksm_scan_thread_turn();
    }
  }

  // ---- unmerging ---------------------------------------------------------------

  /** run = 2: unshare every KSM page in mergeable VMAs, free every item, drop unmapped nodes (unmerge_and_remove_all_rmap_items()). */
  unmerge_all(): void {
    for (const slot of this.slots) {
      for (const vma of slot.mm.tree.all()) {
        if (vmAny(vma.flags, VM_MERGEABLE)) unshare_ksm_range(this.k, slot.mm, vma.start, vma.end);
      }
      for (const item of slot.items.splice(0)) this.item_free(item);
    }
    // An exiting mm's slot goes with its items (ksm_test_exit() in the same loop).
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]!.mm.exited) this.slot_remove(i);
    remove_all_stable_nodes(this);
    this.curSlot = -1;
    this.seqnr = 0;
  }
}
