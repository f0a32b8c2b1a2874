// The stable tree, mirroring bindings/reference/ksm_stable.ts (after
// mm/ksm.c): KSM pages filed by content, chains of dups under
// max_page_sharing, stale nodes dropped as walks meet them. A red-black tree
// ordered by memcmp of the contents (rbtree.ts), because a search resolves
// (and may prune or collapse) every node on its path. The counters it moves
// are ksmd's (ksmd.ts).
//
// One shortcut keeps visits cheap without changing any result: a stable
// node keeps its KSM page's content and a stale flag, so a walk reads one
// record per level; a content index (ksm_content_index.ts) answers
// stable_tree_search() when the walk could have no side effect; and while
// every insert has been such a walk, the red-black tree itself is built
// only when something first needs it (stable_tree(): by replaying the
// inserts in order, which gives the reference's exact shape).

import { CLASS_LINK, CLASS_NODE, block_alloc, block_alloc_hot, block_free, block_regrow } from "./alloc";
import { SW_KSM_DUP_CANDIDATES_ONLY } from "./generated/facts";
import { sw } from "./kernel";
import { ContentIndex, cindex_add, cindex_get, cindex_remove, content_index } from "./ksm_content_index";
import { stale_add, stale_off_path, stale_remove, stale_shape_changed } from "./ksm_stale";
import { kMaxPageSharing, kPruneMs } from "./ksm_sysfs";
import {
  LN_NEXT, ND_CONTENT, ND_ITEMS, STABLE, it_flags, it_head, it_link, it_mm, it_set_flags, it_set_head, it_set_link, ln_item, ln_next, ln_set_item,
  ln_set_next, memcmp_pages, nd_chain, nd_content, nd_dnext, nd_dprev, nd_dup_count, nd_dups, nd_is_chain, nd_item_count, nd_items,
  nd_links, nd_page, nd_prune_time, nd_set_chain, nd_set_content, nd_set_page, nd_set_dnext, nd_set_dprev, nd_set_dup_count, nd_set_dups, nd_set_item_count,
  nd_set_items, nd_set_links, nd_set_prune_time, rb_link_by_content,
} from "./ksm_types";
import { chains, clock, dups, pagesShared, pagesSharing, stableRoot } from "./ksmd";
import { PAGE_REC_SIZE, mm_ksm_merging_pages, mm_set_ksm_merging_pages, page_content, page_set_stable, page_stable } from "./mm_types";
import { page_release } from "./pages";
import { rb_erase, rb_first, rb_insert_color, rb_left, rb_link_node, rb_next, rb_replace_node, rb_right, rb_root_node } from "./rbtree";

/** Regular nodes in the stable tree whose page has no mapping left. */
let staleInTree: i64 = 0;
/** The stable tree's regular nodes by content (ksm_content_index.ts). */
const byContent = content_index(memory.data(offsetof<ContentIndex>(), 8));

// ---- the tree built only when needed ----------------------------------------------------
// While stableLazy, the tree's nodes are regular ones of distinct contents,
// each filed when the tree had no chain and no stale node (so its insert
// walk had no side effect and ended at a new leaf): they are in byContent
// and, in insert order, in stableLog; their red-black links are not set.
let stableLazy = true;
let stableLog: usize = 0;
let stableLogCap: u32 = 0;
let stableLogCount: u32 = 0;

/** Room for one more logged insert; false if the log cannot grow. */
function stable_log_reserve(): bool {
  if (stableLogCount < stableLogCap) return true;
  const cap: u32 = stableLogCap == 0 ? 1024 : stableLogCap * 2;
  const t = cap <= 0x10000000 ? block_regrow(stableLog, <usize>stableLogCap << 2, <usize>cap << 2, <usize>stableLogCount << 2) : 0;
  if (t == 0) return false;
  stableLog = t;
  stableLogCap = cap;
  return true;
}

/** The stable tree's root, the tree built first if it was not (replaying the logged inserts in order). */
function stable_tree(): usize {
  if (stableLazy) {
    stableLazy = false;
    store<u32>(stableRoot, 0);
    for (let i: u32 = 0; i < stableLogCount; i++) {
      rb_link_by_content(stableRoot, <usize>load<u32>(stableLog + (<usize>i << 2)), ND_CONTENT);
    }
    stableLogCount = 0;
    stale_shape_changed();
  }
  return stableRoot;
}

/** A node is stale once its KSM page has no mapping left (freed): page.mapcount <= 0, flagged by ksm_page_unmapped. */
// @ts-ignore: decorator
@inline export function is_stale(node: usize): bool {
  return load<u8>(node, 17) != 0;
}

/** The last mapping of node's KSM page went (pages.ts): the node is stale from now on (a page never gets mapped again). */
export function ksm_page_unmapped(node: usize): void {
  if (is_stale(node)) return;
  store<u8>(node, 1, 17);
  if (nd_chain(node) == 0) {
    staleInTree++;
    stale_add(node);
  }
}

/**
 * Drop a stale node (remove_node_from_stable_tree()): its last item counts
 * as shared, the others as sharing; the items become volatile. The node
 * record goes; its page is no longer a KSM page (and goes too, unmapped).
 */
export function remove_node(node: usize): void {
  const count = nd_item_count(node);
  if (count > 0) {
    pagesShared--;
    pagesSharing -= count - 1;
  }
  let l = nd_items(node);
  while (l != 0) {
    const next = ln_next(l);
    // A current link's item is one of the node's (a dead link's item left it, and may be in another node now).
    const it = ln_item(l);
    if (it_link(it) == l) {
      const mm = it_mm(it);
      mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) - 1);
      it_set_head(it, 0);
      it_set_flags(it, 0);
      it_set_link(it, 0);
    }
    block_free(CLASS_LINK, l);
    l = next;
  }
  nd_set_items(node, 0);
  nd_set_links(node, 0);
  nd_set_item_count(node, 0);
  const chain = nd_chain(node);
  if (chain != 0) {
    // stable_node_dup_del(): the chain stays, even if empty, until a walk meets it.
    dup_unlink(chain, node);
    dups--;
  } else {
    rb_erase(node, stable_tree());
    stale_shape_changed();
    cindex_remove(byContent, nd_content(node), node);
    if (is_stale(node)) {
      staleInTree--;
      stale_remove(node, staleInTree);
    }
  }
  const page = nd_page(node);
  if (page != 0) {
    page_set_stable(page, 0);
    page_release(page);
  }
  block_free(CLASS_NODE, node);
}

/** Take dup out of chain's dups. */
function dup_unlink(chain: usize, dup: usize): void {
  const p = nd_dprev(dup);
  const n = nd_dnext(dup);
  if (p != 0) nd_set_dnext(p, n);
  else nd_set_dups(chain, n);
  if (n != 0) nd_set_dprev(n, p);
  nd_set_dup_count(chain, nd_dup_count(chain) - 1);
  nd_set_dprev(dup, 0);
  nd_set_dnext(dup, 0);
  nd_set_chain(dup, 0);
}

/** Put dup at the head of chain's dups. */
function dup_push(chain: usize, dup: usize): void {
  const h = nd_dups(chain);
  nd_set_dprev(dup, 0);
  nd_set_dnext(dup, h);
  if (h != 0) nd_set_dprev(h, dup);
  nd_set_dups(chain, dup);
  nd_set_dup_count(chain, nd_dup_count(chain) + 1);
  nd_set_chain(dup, chain);
}

/** ksm_get_folio(): the node's KSM page, or 0 after dropping the node if its page is gone. */
function get_page(node: usize): usize {
  if (is_stale(node)) {
    remove_node(node);
    return 0;
  }
  return nd_page(node);
}

/** A node can take one more mapping: 1 <= len < max_page_sharing (is_page_sharing_candidate()). */
// @ts-ignore: decorator
@inline function candidate(node: usize): bool {
  const n = nd_item_count(node);
  return n >= 1 && <f64>n < kMaxPageSharing;
}

/**
 * Pick the dup of a chain (stable_node_dup()): the first with room, or, when
 * pruning is due, the fullest with room after dropping the stale ones.
 * A chain left with one dup collapses into it (the dup takes the chain's
 * place in the tree, the chain record goes); returns the dup, or 0 if every
 * dup was stale.
 */
function stable_node_dup(chain: usize, mayPrune: bool): usize {
  const prune = mayPrune && clock >= nd_prune_time(chain) + kPruneMs;
  if (prune) nd_set_prune_time(chain, clock);
  // Before 6.11 (SW_KSM_DUP_CANDIDATES_ONLY): only dups with room are picked, and
  // the chain collapses only while pruning, when its one live dup was found.
  const legacy = sw(SW_KSM_DUP_CANDIDATES_ONLY);
  let found: usize = 0;
  let live = 0;
  let dup = nd_dups(chain);
  while (dup != 0) {
    const next = nd_dnext(dup);
    if (get_page(dup) != 0) {
      live++;
      const better = legacy
        ? candidate(dup) && (found == 0 || nd_item_count(dup) > nd_item_count(found))
        : found == 0 || (candidate(dup) && (!candidate(found) || nd_item_count(dup) > nd_item_count(found)));
      if (better) {
        found = dup;
        if (!prune && candidate(found)) break;
      }
    }
    dup = next;
  }
  if (found != 0) {
    if (legacy ? prune && live == 1 : nd_dup_count(chain) == 1) {
      dup_unlink(chain, found);
      rb_replace_node(chain, found, stable_tree());
      stale_shape_changed();
      cindex_add(byContent, nd_content(found), found);
      chains--;
      dups--;
      block_free(CLASS_NODE, chain);
    } else if (nd_dups(chain) != found && <f64>(nd_item_count(found) + 1) < kMaxPageSharing) {
      dup_unlink(chain, found);
      dup_push(chain, found);
    }
  }
  return found;
}

// resolve()'s results.
let rHere: usize = 0;
let rDup: usize = 0;
let rContent: u64 = 0;

/**
 * Resolve a tree node to the node whose page a walk compares with
 * (__stable_node_chain() then stable_node_dup_any()): a regular node
 * itself, or a dup of a chain. Sets rHere (the node now at this tree
 * position), rDup (the dup usable for merging, or 0) and rContent (the
 * content of the page to compare), or returns false if the walk must
 * restart (a stale node or an empty chain was erased).
 */
// @ts-ignore: decorator
@inline function resolve(node: usize, mayPrune: bool): bool {
  // The common case first: a regular node whose page is mapped.
  if (!nd_is_chain(node) && !is_stale(node)) {
    rHere = node;
    rDup = candidate(node) ? node : 0;
    rContent = nd_content(node);
    return true;
  }
  return resolve_slow(node, mayPrune);
}

function resolve_slow(node: usize, mayPrune: bool): bool {
  let here = node;
  let dup: usize;
  if (!nd_is_chain(node)) {
    dup = candidate(node) ? node : 0;
  } else {
    dup = stable_node_dup(node, mayPrune);
    if (dup != 0 && nd_chain(dup) == 0) here = dup;
  }
  let any = dup;
  if (any == 0) {
    if (nd_is_chain(here)) {
      if (nd_dup_count(here) == 0) {
        rb_erase(here, stable_tree());
        stale_shape_changed();
        chains--;
        block_free(CLASS_NODE, here);
        return false;
      }
      any = nd_dups(here);
    } else {
      any = here;
    }
  }
  if (get_page(any) == 0) return false;
  rHere = here;
  rDup = dup;
  rContent = nd_content(any);
  return true;
}

/** stable_tree_search(): a KSM page to merge page into, or 0. */
export function stable_tree_search(page: usize): usize {
  // A KSM page (shared through fork) is its own match.
  if (page_stable(page) != 0) return page;
  const content = page_content(page);
  if (byContent.ok && chains == 0 && (staleInTree == 0 || stale_off_path(stable_tree(), content))) {
    // The walk would be side-effect free (it would meet no stale node, ksm_stale.ts): its result is the node of this content, if any.
    const n = cindex_get(byContent, content);
    return n != 0 && candidate(n) ? nd_page(n) : 0;
  }
  for (;;) {
    let cur = rb_root_node(stable_tree());
    let restart = false;
    while (cur != 0) {
      if (!resolve(cur, true)) {
        restart = true;
        break;
      }
      const c = memcmp_pages(content, rContent);
      if (c < 0) cur = rb_left(rHere);
      else if (c > 0) cur = rb_right(rHere);
      else return rDup != 0 && candidate(rDup) ? nd_page(rDup) : 0;
    }
    if (!restart) return 0;
  }
  return 0;
}

/** alloc_stable_node(): the (reserved) node of the new KSM page kpage holding content. */
function alloc_stable_node(kpage: usize, content: u64): usize {
  const node = block_alloc(CLASS_NODE);
  if (node == 0) abort("vmasim internal error: stable node not reserved");
  nd_set_page(node, kpage);
  nd_set_content(node, content);
  return node;
}

/** stable_tree_insert(): file the new KSM page kpage, making or extending a chain if its content is there. */
export function stable_tree_insert(kpage: usize): usize {
  const content = page_content(kpage);
  // An empty tree starts unbuilt again.
  if (!stableLazy && load<u32>(stableRoot) == 0) {
    stableLazy = true;
    stableLogCount = 0;
  }
  if (stableLazy) {
    // The walk would have no side effect and end at a new leaf: log the insert, build the tree later.
    if (chains == 0 && staleInTree == 0 && byContent.ok && cindex_get(byContent, content) == 0 && stable_log_reserve()) {
      const node = alloc_stable_node(kpage, content);
      store<u32>(stableLog + (<usize>stableLogCount << 2), <u32>node);
      stableLogCount++;
      cindex_add(byContent, content, node);
      page_set_stable(kpage, node);
      return node;
    }
    stable_tree();
  }
  let parent: usize = 0;
  let left = false;
  let equal: usize = 0;
  for (;;) {
    parent = 0;
    equal = 0;
    let cur = rb_root_node(stable_tree());
    let restart = false;
    while (cur != 0) {
      if (!resolve(cur, false)) {
        restart = true;
        break;
      }
      const here = rHere;
      const c = memcmp_pages(content, rContent);
      parent = here;
      if (c < 0) {
        left = true;
        cur = rb_left(here);
      } else if (c > 0) {
        left = false;
        cur = rb_right(here);
      } else {
        equal = here;
        break;
      }
    }
    if (!restart) break;
  }
  const node = alloc_stable_node(kpage, content);
  if (equal == 0) {
    rb_link_node(node, parent, left, stable_tree());
    rb_insert_color(node, stable_tree());
    stale_shape_changed();
    cindex_add(byContent, nd_content(node), node);
  } else {
    let chain = equal;
    if (!nd_is_chain(equal)) {
      // alloc_stable_node_chain(): the chain takes the node's place; the node becomes its first dup.
      chain = block_alloc(CLASS_NODE);
      if (chain == 0) abort("vmasim internal error: stable node not reserved");
      store<u8>(chain, 1, 16);
      nd_set_prune_time(chain, clock);
      rb_replace_node(equal, chain, stable_tree());
      stale_shape_changed();
      cindex_remove(byContent, nd_content(equal), equal);
      dup_push(chain, equal);
      dups++;
      chains++;
    }
    dup_push(chain, node);
    dups++;
  }
  page_set_stable(kpage, node);
  return node;
}

/**
 * item leaves its stable node's list (hlist_del() in
 * remove_rmap_item_from_tree()): its link record is dead from now on, and
 * only the item is written; the node drops dead links when it next walks
 * its list (hlist_drop_dead, remove_node).
 */
// @ts-ignore: decorator
@inline export function hlist_unlink_item(item: usize): void {
  it_set_link(item, 0);
}

/** Dead links may outnumber a node's items by this many before its list is walked to drop them. */
const DEAD_LINKS_SLACK: u32 = 8;

/**
 * Drop node's dead links (whose items left it): done when they outnumber
 * its items by DEAD_LINKS_SLACK, so each walk frees at least half of the
 * links it reads and a list never holds more than twice its items plus
 * the slack.
 */
function hlist_drop_dead(node: usize): void {
  let link = node + ND_ITEMS;
  let kept: u32 = 0;
  let l = nd_items(node);
  while (l != 0) {
    const next = ln_next(l);
    if (it_link(ln_item(l)) == l) {
      store<u32>(link, <u32>l);
      link = l + LN_NEXT;
      kept++;
    } else {
      block_free(CLASS_LINK, l);
    }
    l = next;
  }
  store<u32>(link, 0);
  nd_set_links(node, kept);
}

/** stable_tree_append(): item (in no node's list) now maps node's KSM page; its link record was reserved. */
export function stable_tree_append(item: usize, node: usize): void {
  const n = nd_item_count(node);
  if (n > 0) pagesSharing++;
  else pagesShared++;
  if (nd_links(node) - n >= n + DEAD_LINKS_SLACK) hlist_drop_dead(node);
  const l = block_alloc_hot(CLASS_LINK, PAGE_REC_SIZE);
  if (l == 0) abort("vmasim internal error: stable node link not reserved");
  ln_set_item(l, item);
  ln_set_next(l, nd_items(node));
  nd_set_items(node, l);
  nd_set_links(node, nd_links(node) + 1);
  it_set_link(item, l);
  nd_set_item_count(node, n + 1);
  it_set_head(item, node);
  it_set_flags(item, STABLE);
  const mm = it_mm(item);
  mm_set_ksm_merging_pages(mm, mm_ksm_merging_pages(mm) + 1);
}

/** max_page_sharing may change only with no KSM page mapped and every node droppable; drops them all. */
export function stable_nodes_droppable(): bool {
  if (pagesShared > 0) return false;
  for (let n = rb_first(stable_tree()); n != 0; n = rb_next(n)) {
    if (nd_is_chain(n)) {
      for (let d = nd_dups(n); d != 0; d = nd_dnext(d)) if (!is_stale(d)) return false;
    } else if (!is_stale(n)) {
      return false;
    }
  }
  remove_all_stable_nodes();
  return true;
}

/** remove_all_stable_nodes(): drop every node whose page is no longer mapped, and every chain left empty (in tree order). */
export function remove_all_stable_nodes(): void {
  let n = rb_first(stable_tree());
  while (n != 0) {
    const next = rb_next(n);
    if (nd_is_chain(n)) {
      let d = nd_dups(n);
      while (d != 0) {
        const dn = nd_dnext(d);
        if (is_stale(d)) remove_node(d);
        d = dn;
      }
      if (nd_dup_count(n) == 0) {
        rb_erase(n, stable_tree());
        stale_shape_changed();
        chains--;
        block_free(CLASS_NODE, n);
      }
    } else if (is_stale(n)) {
      remove_node(n);
    }
    n = next;
  }
}
