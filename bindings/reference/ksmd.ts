/**
 * ksmd, after mm/ksm.c: the mm_slot list and scan cursor, one rmap_item per
 * scanned page, the stable tree (with chains and dups under
 * max_page_sharing) and the unstable tree rebuilt every pass, smart scan,
 * zero-page merging, and every counter of /sys/kernel/mm/ksm and
 * /proc/PID/ksm_stat. Both trees are red-black trees ordered by memcmp of
 * the page contents, built with lib/rbtree.c's algorithms, because a search
 * resolves (and may prune or collapse) every node on its path.
 */
import { EBUSY, EINVAL, ENOENT, PAGE_SIZE, VM_MERGEABLE } from "../kernel/facts.js";
import type { KnobValue, KsmKnobName } from "../kernel/kstrto.js";
import { vmAny } from "../kernel/vmflags.js";
import type { Kernel } from "./kernel.js";
import { AdvisorCtx, advisor_start_scan, advisor_stop_scan, knob_u64, set_advisor_defaults, to_u32 } from "./ksm_advisor.js";
import { KSM_ZERO_PAGE, type Mm, Page, type Vma } from "./mm_types.js";
import { first_page_at, sorted_pages, unshare_ksm_range } from "./pages.js";
import { type RbNode, RbRoot, rb_erase, rb_insert_color, rb_link_node, rb_replace_node } from "./rbtree.js";

const UNSTABLE = 1;
const STABLE = 2;
/** sizeof(struct ksm_rmap_item) on x86-64: what the profit formulas charge per item. */
const RMAP_ITEM_BYTES = 64;
/** HZ of the oracle kernel: sleeps are whole jiffies of 4 ms. */
const JIFFY_MS = 4;
/** The simulated cost of a batch that does not sleep: per batch and per processed page (us). */
const BATCH_US = 10;
const PAGE_US = 2;

/**
 * memcmp() of two pages: each holds a 64-bit little-endian value repeated, so
 * they compare by the value's bytes from the least significant one up.
 */
export function memcmp_pages(a: bigint, b: bigint): number {
  if (a === b) return 0;
  for (let shift = 0n; shift < 64n; shift += 8n) {
    const x = (a >> shift) & 0xffn;
    const y = (b >> shift) & 0xffn;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** struct ksm_rmap_item: one per (mm, scanned page); a node of the unstable tree while UNSTABLE. */

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
export class RmapItem implements RbNode<RmapItem> {
  rbParent: RmapItem | null = null;
  rbLeft: RmapItem | null = null;
  rbRight: RmapItem | null = null;
  rbRed = false;
  oldchecksum = 0;
  age = 0;
  remainingSkips = 0;
  flags = 0;
  /** Low byte of seqnr when inserted in the unstable tree. */
  seq = 0;
  /** The stable node this item maps (STABLE). */
  head: StableNode | null = null;
  constructor(
    readonly mm: Mm,
    readonly address: number,
  ) {}
}

/** struct ksm_stable_node: a regular node, a chain (of dups), or a dup. */
export class StableNode implements RbNode<StableNode> {
  rbParent: StableNode | null = null;
  rbLeft: StableNode | null = null;
  rbRight: StableNode | null = null;
  rbRed = false;
  /** rmap_items mapping this node's KSM page, head first (regular node or dup). */
  readonly items: RmapItem[] = [];
  /** The dups of a chain, head first. */
  readonly dups: StableNode[] = [];
  /** For a dup: its chain. */
  chain: StableNode | null = null;
  /** For a chain: simulated ms of the last prune. */
  pruneTime = 0;
  constructor(
    readonly id: number,
    readonly isChain: boolean,
    /** The KSM page (null for a chain). */
    readonly page: Page | null,
    readonly content: bigint,
  ) {}
}

/** struct ksm_mm_slot. */
class MmSlot {
  readonly items: RmapItem[] = [];
  constructor(readonly mm: Mm) {}
}

/** The knobs of /sys/kernel/mm/ksm. */
export interface KsmKnobs {
  run: number;
  pages_to_scan: number;
  sleep_millisecs: number;
  max_page_sharing: number;
  use_zero_pages: number;
  smart_scan: number;
  merge_across_nodes: number;
  stable_node_chains_prune_millisecs: number;
  advisor_mode: number;
  advisor_target_scan_time: number;
  advisor_min_pages_to_scan: number;
  advisor_max_pages_to_scan: number;
  advisor_max_cpu: number;
}

/** A low-32-bit page checksum (calc_checksum): any change of content changes it; 0 is not a value it takes. */
export function calc_checksum(content: bigint): number {
  let x = BigInt.asUintN(64, content + 0x9e3779b97f4a7c15n);
  x = BigInt.asUintN(64, (x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n);
  x = BigInt.asUintN(64, (x ^ (x >> 27n)) * 0x94d049bb133111ebn);
  x ^= x >> 31n;
  return Number(x & 0xffffffffn) || 1;
}

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
  private readonly stableRoot = new RbRoot<StableNode>();
  private unstableRoot = new RbRoot<RmapItem>();
  private nextNodeId = 1;
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

  constructor(private readonly k: Kernel) {}

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
      if (this.is_stale(node)) {
        this.remove_node(node);
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

  /** A node is stale once its KSM page has no mapping left (freed). */
  private is_stale(node: StableNode): boolean {
    return node.page !== null && node.page.mapcount <= 0;
  }

  /**
   * Drop a stale node (remove_node_from_stable_tree()): its last item counts
   * as shared, the others as sharing; the items become volatile.
   */
  private remove_node(node: StableNode): void {
    node.items.forEach((item, i) => {
      if (i === node.items.length - 1) this.pagesShared--;
      else this.pagesSharing--;
      item.mm.ksmMergingPages--;
      item.head = null;
      item.flags = 0;
    });
    node.items.length = 0;
    if (node.chain !== null) {
      // stable_node_dup_del(): the chain stays, even if empty, until a walk meets it.
      const chain = node.chain;
      chain.dups.splice(chain.dups.indexOf(node), 1);
      this.dups--;
      node.chain = null;
    } else {
      rb_erase(node, this.stableRoot);
    }
    if (node.page !== null) node.page.ksm = false;
  }

  /** ksm_get_folio(): the node's KSM page, or null after dropping the node if its page is gone. */
  private get_page(node: StableNode): Page | null {
    if (this.is_stale(node)) {
      this.remove_node(node);
      return null;
    }
    return node.page;
  }

  /** A node can take one more mapping: 1 <= len < max_page_sharing (is_page_sharing_candidate()). */
  private candidate(node: StableNode): boolean {
    return node.items.length >= 1 && node.items.length < this.knobs.max_page_sharing;
  }

  /**
   * Pick the dup of a chain (stable_node_dup()): the first with room, or, when
   * pruning is due, the fullest with room after dropping the stale ones.
   * A chain left with one dup collapses into it (the dup takes the chain's
   * place in the tree); returns the dup and its page, or null if every dup
   * was stale.
   */
  private stable_node_dup(chain: StableNode, mayPrune: boolean): StableNode | null {
    const prune = mayPrune && this.clock >= chain.pruneTime + this.knobs.stable_node_chains_prune_millisecs;
    if (prune) chain.pruneTime = this.clock;
    // Before 6.11 (switch ksmDupCandidatesOnly): only dups with room are picked
    // (none: null, and the walk takes any dup), and the chain collapses only
    // while pruning, when its one live dup was found.
    const legacy = this.k.switches.ksmDupCandidatesOnly;
    let found: StableNode | null = null;
    let live = 0;
    for (const dup of [...chain.dups]) {
      if (this.get_page(dup) === null) continue;
      live++;
      const better = legacy
        ? this.candidate(dup) && (found === null || dup.items.length > found.items.length)
        : found === null || (this.candidate(dup) && (!this.candidate(found) || dup.items.length > found.items.length));
      if (better) {
        found = dup;
        if (!prune && this.candidate(found)) break;
      }
    }
    if (found !== null) {
      if (legacy ? prune && live === 1 : chain.dups.length === 1) {
        chain.dups.length = 0;
        found.chain = null;
        rb_replace_node(chain, found, this.stableRoot);
        this.chains--;
        this.dups--;
      } else if (chain.dups[0] !== found && found.items.length + 1 < this.knobs.max_page_sharing) {
        chain.dups.splice(chain.dups.indexOf(found), 1);
        chain.dups.unshift(found);
      }
    }
    return found;
  }

  /**
   * Resolve a tree node to the node whose page a walk compares with
   * (__stable_node_chain() then stable_node_dup_any()): a regular node
   * itself, or a dup of a chain. Returns [the node now at this tree
   * position, the dup usable for merging or null, the page to compare] or
   * null if the walk must restart (a stale node or an empty chain was erased).
   */
  private resolve(node: StableNode, mayPrune: boolean): [StableNode, StableNode | null, Page] | null {
    let here = node;
    let dup: StableNode | null;
    if (!node.isChain) {
      dup = this.candidate(node) ? node : null;
    } else {
      dup = this.stable_node_dup(node, mayPrune);
      if (dup !== null && dup.chain === null) here = dup;
    }
    let any = dup;
    if (any === null) {
      if (here.isChain) {
        if (here.dups.length === 0) {
          rb_erase(here, this.stableRoot);
          this.chains--;
          return null;
        }
        any = here.dups[0]!;
      } else {
        any = here;
      }
    }
    const page = this.get_page(any);
    if (page === null) return null;
    return [here, dup, page];
  }

  /** stable_tree_search(): a KSM page to merge page into, or null. */
  private stable_tree_search(page: Page): Page | null {
    // A KSM page (shared through fork) is its own match.
    if (page.ksm && page.stable !== null) return page;
    for (;;) {
      let cur = this.stableRoot.node;
      let restart = false;
      while (cur !== null) {
        const r = this.resolve(cur, true);
        if (r === null) {
          restart = true;
          break;
        }
        const [here, dup, treePage] = r;
        const c = memcmp_pages(page.content, treePage.content);
        if (c < 0) cur = here.rbLeft;
        else if (c > 0) cur = here.rbRight;
        else return dup !== null && this.candidate(dup) ? dup.page : null;
      }
      if (!restart) return null;
    }
  }

  /** stable_tree_insert(): file the new KSM page kpage, making or extending a chain if its content is there. */
  private stable_tree_insert(kpage: Page): StableNode {
    let parent: StableNode | null = null;
    let left = false;
    let equal: StableNode | null = null;
    for (;;) {
      parent = null;
      equal = null;
      let cur = this.stableRoot.node;
      let restart = false;
      while (cur !== null) {
        const r = this.resolve(cur, false);
        if (r === null) {
          restart = true;
          break;
        }
        const [here, , treePage] = r;
        const c = memcmp_pages(kpage.content, treePage.content);
        parent = here;
        if (c < 0) {
          left = true;
          cur = here.rbLeft;
        } else if (c > 0) {
          left = false;
          cur = here.rbRight;
        } else {
          equal = here;
          break;
        }
      }
      if (!restart) break;
    }
    const node = new StableNode(this.nextNodeId++, false, kpage, kpage.content);
    if (equal === null) {
      rb_link_node(node, parent, left, this.stableRoot);
      rb_insert_color(node, this.stableRoot);
    } else {
      let chain = equal;
      if (!equal.isChain) {
        // alloc_stable_node_chain(): the chain takes the node's place; the node becomes its first dup.
        chain = new StableNode(this.nextNodeId++, true, null, kpage.content);
        chain.pruneTime = this.clock;
        rb_replace_node(equal, chain, this.stableRoot);
        chain.dups.unshift(equal);
        equal.chain = chain;
        this.dups++;
        this.chains++;
      }
      chain.dups.unshift(node);
      node.chain = chain;
      this.dups++;
    }
    kpage.ksm = true;
    kpage.stable = node;
    return node;
  }

  /** stable_tree_append(): item now maps node's KSM page. */
  private stable_tree_append(item: RmapItem, node: StableNode): void {
    if (node.items.length > 0) this.pagesSharing++;
    else this.pagesShared++;
    node.items.unshift(item);
    item.head = node;
    item.flags = STABLE;
    item.mm.ksmMergingPages++;
  }

  /** Point item's page table entry at kpage instead of page (replace_page()). */
  private replace_page(item: RmapItem, page: Page, kpage: Page): void {
    if (page === kpage) return;
    page.mapcount--;
    kpage.mapcount++;
    item.mm.pages.set(item.address, kpage);
  }

  /** The anonymous page item's address maps now, if its VMA is still mergeable with an anon_vma. */
  private item_page(item: RmapItem): Page | null {
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
      const tPage = this.item_page(cur);
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
      if (!this.is_stale(node) && item.head === node) return;
    } else {
      this.remove_rmap_item_from_tree(item);
      const c = calc_checksum(page.content);
      if (c !== item.oldchecksum) {
        item.oldchecksum = c;
        return;
      }
      if (this.try_zero_page_merge(item, page)) return;
    }
    const kpage = this.stable_tree_search(page);
    if (kpage === page && item.head === node && node !== null) return;
    this.remove_rmap_item_from_tree(item);
    if (kpage !== null) {
      this.replace_page(item, page, kpage);
      this.stable_tree_append(item, kpage.stable as StableNode);
      return;
    }
    const partner = this.unstable_search_insert(item, page);
    if (partner !== null) {
      const [tItem, tPage] = partner;
      // merge_two_pages(): page becomes the KSM page, the partner maps it too.
      this.remove_rmap_item_from_tree(tItem);
      this.replace_page(tItem, tPage, page);
      const n = this.stable_tree_insert(page);
      this.stable_tree_append(tItem, n);
      this.stable_tree_append(item, n);
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
  private unmerge_all(): void {
    for (const slot of this.slots) {
      for (const vma of slot.mm.tree.all()) {
        if (vmAny(vma.flags, VM_MERGEABLE)) unshare_ksm_range(this.k, slot.mm, vma.start, vma.end);
      }
      for (const item of slot.items.splice(0)) this.item_free(item);
    }
    // An exiting mm's slot goes with its items (ksm_test_exit() in the same loop).
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]!.mm.exited) this.slot_remove(i);
    // remove_all_stable_nodes(): drop every node whose page is no longer mapped.
    for (const n of this.stable_nodes()) {
      if (n.isChain) {
        for (const d of [...n.dups]) if (this.is_stale(d)) this.remove_node(d);
        if (n.dups.length === 0) {
          rb_erase(n, this.stableRoot);
          this.chains--;
        }
      } else if (this.is_stale(n)) this.remove_node(n);
    }
    this.curSlot = -1;
    this.seqnr = 0;
  }

  // ---- knobs -------------------------------------------------------------------

  /** A write to /sys/kernel/mm/ksm/KEY (each store function's refusals and effects); 0 or -errno. */
  write_knob(key: KsmKnobName, v: KnobValue): number {
    if (!ksm_knob_exists(this.k, key)) return -ENOENT;
    const uint = v.u;
    switch (key) {
      case "run": {
        if (Number.isNaN(uint) || uint > 2) return -EINVAL;
        if (uint === this.knobs.run) return 0;
        this.knobs.run = uint;
        if (uint === 2) this.unmerge_all();
        return 0;
      }
      case "pages_to_scan":
        if (Number.isNaN(uint) || uint > 0xffffffff) return -EINVAL;
        if (this.knobs.advisor_mode !== 0) return -EINVAL;
        this.knobs.pages_to_scan = uint;
        return 0;
      case "sleep_millisecs":
      case "stable_node_chains_prune_millisecs":
        if (Number.isNaN(uint) || uint > 0xffffffff) return -EINVAL;
        this.knobs[key] = uint;
        return 0;
      case "max_page_sharing":
      case "merge_across_nodes": {
        const n = key === "max_page_sharing" ? v.i : uint;
        if (Number.isNaN(n) || (key === "max_page_sharing" ? n < 2 : n > 1)) return -EINVAL;
        if (n === this.knobs[key]) return 0;
        if (!this.stable_nodes_droppable()) return -EBUSY;
        this.knobs[key] = n;
        return 0;
      }
      case "use_zero_pages":
      case "smart_scan":
        if (v.b < 0) return -EINVAL;
        this.knobs[key] = v.b;
        return 0;
      case "advisor_mode":
        if (v.mode < 0) return -EINVAL;
        if (v.mode !== this.knobs.advisor_mode) {
          this.knobs.advisor_mode = v.mode;
          set_advisor_defaults(this.knobs, this.advisor);
        }
        return 0;
      case "advisor_target_scan_time":
        if (Number.isNaN(uint) || uint < 1) return -EINVAL;
        this.knobs.advisor_target_scan_time = uint;
        return 0;
      case "advisor_min_pages_to_scan":
      case "advisor_max_pages_to_scan":
        if (Number.isNaN(uint)) return -EINVAL;
        this.knobs[key] = uint;
        return 0;
      case "advisor_max_cpu":
        // kstrtoul() into an unsigned int: the low 32 bits stay.
        if (Number.isNaN(uint)) return -EINVAL;
        this.knobs.advisor_max_cpu = to_u32(knob_u64(uint));
        return 0;
    }
  }

  /** Every node of the stable tree (regular nodes and chains), in order. */
  private stable_nodes(): StableNode[] {
    const out: StableNode[] = [];
    const walk = (n: StableNode | null): void => {
      if (n === null) return;
      walk(n.rbLeft);
      out.push(n);
      walk(n.rbRight);
    };
    walk(this.stableRoot.node);
    return out;
  }

  /** max_page_sharing may change only with no KSM page mapped and every node droppable. */
  private stable_nodes_droppable(): boolean {
    if (this.pagesShared > 0) return false;
    const nodes = this.stable_nodes();
    for (const n of nodes) {
      if ((n.isChain ? n.dups : [n]).some((d) => !this.is_stale(d))) return false;
    }
    for (const n of nodes) {
      if (n.isChain) {
        for (const d of [...n.dups]) this.remove_node(d);
        rb_erase(n, this.stableRoot);
        this.chains--;
      } else this.remove_node(n);
    }
    return true;
  }

  // ---- reports -------------------------------------------------------------------

  /** /proc/PID/ksm_stat values: rmap_items, zero_pages, merging_pages, process_profit, merge_any, mergeable. */
  proc_ksm_stat(mm: Mm): number[] {
    const profit = (mm.ksmMergingPages + mm.ksmZeroPages) * PAGE_SIZE - mm.ksmRmapItems * RMAP_ITEM_BYTES;
    const mergeable = mm.tree.all().some((v) => vmAny(v.flags, VM_MERGEABLE));
    return [mm.ksmRmapItems, mm.ksmZeroPages, mm.ksmMergingPages, profit, mm.mergeAny ? 1 : 0, mergeable ? 1 : 0];
  }

  /** The global counters: shared, sharing, unshared, volatile, chains, dups, zero pages, profit, full scans, scanned, skipped, clock. */
  global_stat(): number[] {
    const volatile = Math.max(0, this.rmapItems - this.pagesShared - this.pagesSharing - this.pagesUnshared);
    const profit = (this.pagesSharing + this.zeroPages) * PAGE_SIZE - this.rmapItems * RMAP_ITEM_BYTES;
    return [
      this.pagesShared, this.pagesSharing, this.pagesUnshared, volatile, this.chains, this.dups, this.zeroPages, profit, this.seqnr,
      this.pagesScanned, this.pagesSkipped, this.clock,
    ];
  }
}

