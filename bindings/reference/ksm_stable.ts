/**
 * mm/ksm.c: the stable tree. Its nodes are regular nodes, chains and the
 * chains' dups (under max_page_sharing); a walk resolves every node on its
 * path (ksm_get_folio, stable_node_dup: stale nodes dropped, chains pruned
 * or collapsed), so a search may restart. stable_tree_search,
 * stable_tree_insert and stable_tree_append are what ksmd's
 * cmp_and_merge_page (ksmd.ts) calls; stable_nodes_droppable is what a
 * max_page_sharing or merge_across_nodes write needs (ksm_sysfs.ts). Every
 * function takes ksmd's state (the Ksm of ksmd.ts) first.
 */
import type { Ksm } from "./ksmd.js";
import { type RmapItem, STABLE, StableNode, memcmp_pages } from "./ksm_types.js";
import type { Page } from "./mm_types.js";
import { rb_erase, rb_insert_color, rb_link_node, rb_replace_node } from "./rbtree.js";

/** A node is stale once its KSM page has no mapping left (freed). */
export function is_stale(node: StableNode): boolean {
  return node.page !== null && node.page.mapcount <= 0;
}

/**
 * Drop a stale node (remove_node_from_stable_tree()): its last item counts
 * as shared, the others as sharing; the items become volatile.
 */
export function remove_node(ksm: Ksm, node: StableNode): void {
  node.items.forEach((item, i) => {
    if (i === node.items.length - 1) ksm.pagesShared--;
    else ksm.pagesSharing--;
    item.mm.ksmMergingPages--;
    item.head = null;
    item.flags = 0;
  });
  node.items.length = 0;
  if (node.chain !== null) {
    // stable_node_dup_del(): the chain stays, even if empty, until a walk meets it.
    const chain = node.chain;
    chain.dups.splice(chain.dups.indexOf(node), 1);
    ksm.dups--;
    node.chain = null;
  } else {
    rb_erase(node, ksm.stableRoot);
  }
  if (node.page !== null) node.page.ksm = false;
}

/** ksm_get_folio(): the node's KSM page, or null after dropping the node if its page is gone. */
export function get_page(ksm: Ksm, node: StableNode): Page | null {
  if (is_stale(node)) {
    remove_node(ksm, node);
    return null;
  }
  return node.page;
}

/** A node can take one more mapping: 1 <= len < max_page_sharing (is_page_sharing_candidate()). */
export function candidate(ksm: Ksm, node: StableNode): boolean {
  return node.items.length >= 1 && node.items.length < ksm.knobs.max_page_sharing;
}

/**
 * Pick the dup of a chain (stable_node_dup()): the first with room, or, when
 * pruning is due, the fullest with room after dropping the stale ones.
 * A chain left with one dup collapses into it (the dup takes the chain's
 * place in the tree); returns the dup and its page, or null if every dup
 * was stale.
 */
export function stable_node_dup(ksm: Ksm, chain: StableNode, mayPrune: boolean): StableNode | null {
  const prune = mayPrune && ksm.clock >= chain.pruneTime + ksm.knobs.stable_node_chains_prune_millisecs;
  if (prune) chain.pruneTime = ksm.clock;
  // Before 6.11 (switch ksmDupCandidatesOnly): only dups with room are picked
  // (none: null, and the walk takes any dup), and the chain collapses only
  // while pruning, when its one live dup was found.
  const legacy = ksm.k.switches.ksmDupCandidatesOnly;
  let found: StableNode | null = null;
  let live = 0;
  for (const dup of [...chain.dups]) {
    if (get_page(ksm, dup) === null) continue;
    live++;
    const better = legacy
      ? candidate(ksm, dup) && (found === null || dup.items.length > found.items.length)
      : found === null || (candidate(ksm, dup) && (!candidate(ksm, found) || dup.items.length > found.items.length));
    if (better) {
      found = dup;
      if (!prune && candidate(ksm, found)) break;
    }
  }
  if (found !== null) {
    if (legacy ? prune && live === 1 : chain.dups.length === 1) {
      chain.dups.length = 0;
      found.chain = null;
      rb_replace_node(chain, found, ksm.stableRoot);
      ksm.chains--;
      ksm.dups--;
    } else if (chain.dups[0] !== found && found.items.length + 1 < ksm.knobs.max_page_sharing) {
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
export function resolve(ksm: Ksm, node: StableNode, mayPrune: boolean): [StableNode, StableNode | null, Page] | null {
  let here = node;
  let dup: StableNode | null;
  if (!node.isChain) {
    dup = candidate(ksm, node) ? node : null;
  } else {
    dup = stable_node_dup(ksm, node, mayPrune);
    if (dup !== null && dup.chain === null) here = dup;
  }
  let any = dup;
  if (any === null) {
    if (here.isChain) {
      if (here.dups.length === 0) {
        rb_erase(here, ksm.stableRoot);
        ksm.chains--;
        return null;
      }
      any = here.dups[0]!;
    } else {
      any = here;
    }
  }
  const page = get_page(ksm, any);
  if (page === null) return null;
  return [here, dup, page];
}

/** stable_tree_search(): a KSM page to merge page into, or null. */
export function stable_tree_search(ksm: Ksm, page: Page): Page | null {
  // A KSM page (shared through fork) is its own match.
  if (page.ksm && page.stable !== null) return page;
  for (;;) {
    let cur = ksm.stableRoot.node;
    let restart = false;
    while (cur !== null) {
      const r = resolve(ksm, cur, true);
      if (r === null) {
        restart = true;
        break;
      }
      const [here, dup, treePage] = r;
      const c = memcmp_pages(page.content, treePage.content);
      if (c < 0) cur = here.rbLeft;
      else if (c > 0) cur = here.rbRight;
      else return dup !== null && candidate(ksm, dup) ? dup.page : null;
    }
    if (!restart) return null;
  }
}

/** stable_tree_insert(): file the new KSM page kpage, making or extending a chain if its content is there. */
export function stable_tree_insert(ksm: Ksm, kpage: Page): StableNode {
  let parent: StableNode | null = null;
  let left = false;
  let equal: StableNode | null = null;
  for (;;) {
    parent = null;
    equal = null;
    let cur = ksm.stableRoot.node;
    let restart = false;
    while (cur !== null) {
      const r = resolve(ksm, cur, false);
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
  const node = new StableNode(ksm.nextNodeId++, false, kpage, kpage.content);
  if (equal === null) {
    rb_link_node(node, parent, left, ksm.stableRoot);
    rb_insert_color(node, ksm.stableRoot);
  } else {
    let chain = equal;
    if (!equal.isChain) {
      // alloc_stable_node_chain(): the chain takes the node's place; the node becomes its first dup.
      chain = new StableNode(ksm.nextNodeId++, true, null, kpage.content);
      chain.pruneTime = ksm.clock;
      rb_replace_node(equal, chain, ksm.stableRoot);
      chain.dups.unshift(equal);
      equal.chain = chain;
      ksm.dups++;
      ksm.chains++;
    }
    chain.dups.unshift(node);
    node.chain = chain;
    ksm.dups++;
  }
  kpage.ksm = true;
  kpage.stable = node;
  return node;
}

/** stable_tree_append(): item now maps node's KSM page. */
export function stable_tree_append(ksm: Ksm, item: RmapItem, node: StableNode): void {
  if (node.items.length > 0) ksm.pagesSharing++;
  else ksm.pagesShared++;
  node.items.unshift(item);
  item.head = node;
  item.flags = STABLE;
  item.mm.ksmMergingPages++;
}

/** Every node of the stable tree (regular nodes and chains), in order. */
export function stable_nodes(ksm: Ksm): StableNode[] {
  const out: StableNode[] = [];
  const walk = (n: StableNode | null): void => {
    if (n === null) return;
    walk(n.rbLeft);
    out.push(n);
    walk(n.rbRight);
  };
  walk(ksm.stableRoot.node);
  return out;
}

/** max_page_sharing may change only with no KSM page mapped and every node droppable. */
export function stable_nodes_droppable(ksm: Ksm): boolean {
  if (ksm.pagesShared > 0) return false;
  const nodes = stable_nodes(ksm);
  for (const n of nodes) {
    if ((n.isChain ? n.dups : [n]).some((d) => !is_stale(d))) return false;
  }
  remove_all_stable_nodes(ksm);
  return true;
}

/** remove_all_stable_nodes(): drop every node whose page is no longer mapped, and every chain left empty (in tree order). */
export function remove_all_stable_nodes(ksm: Ksm): void {
  for (const n of stable_nodes(ksm)) {
    if (n.isChain) {
      for (const d of [...n.dups]) if (is_stale(d)) remove_node(ksm, d);
      if (n.dups.length === 0) {
        rb_erase(n, ksm.stableRoot);
        ksm.chains--;
      }
    } else if (is_stale(n)) remove_node(ksm, n);
  }
}
