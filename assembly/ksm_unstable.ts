// The unstable tree, mirroring unstable_search_insert() of
// bindings/reference/ksmd.ts (unstable_tree_search_insert() in mm/ksm.c):
// the pages ksmd saw unchanged for a whole pass, by content, rebuilt every
// pass. Two shortcuts keep it cheap without changing any result (each is
// explained where it lives): while nothing but ksmd has run since the pass
// began, a node's filed page and content stand for what its address maps
// (no lookup a level), and the tree is a content index that is built as a
// red-black tree only if memory changes in the middle of the pass.

import { block_regrow } from "./alloc";
import {
  ContentIndex, cindex_get, cindex_put, cindex_remove, cindex_reserve, cindex_reset, content_index,
} from "./ksm_content_index";
import {
  UNSTABLE, arena_alloc, arena_iter_start, arena_next, arena_reset, it_address, it_mm, it_set_flags, it_set_seq, it_set_unode,
  memcmp_pages, un_content, un_item, un_page, UN_CONTENT, rb_link_by_content,
} from "./ksm_types";
import { pagesUnshared, seqnr } from "./ksmd";
import { KSM_ZERO_PAGE, page_content, vma_anon, vma_flags } from "./mm_types";
import { VM_MERGEABLE } from "./generated/facts";
import { pt_get } from "./pages";
import { rb_erase, rb_insert_color, rb_left, rb_link_node, rb_right, rb_root_node } from "./rbtree";
import { tree_lookup } from "./tree";

const unstableRoot = memory.data(4);

/**
 * get_mergeable_page(): the anonymous page item's address maps now, or 0 if
 * its VMA is gone or no longer mergeable with an anon_vma (find_mergeable_vma()).
 */
function get_mergeable_page(item: usize): usize {
  const mm = it_mm(item);
  const address = it_address(item);
  const v = tree_lookup(mm, address);
  if (v == 0 || (vma_flags(v) & VM_MERGEABLE) == 0 || vma_anon(v) == 0) return 0;
  const page = pt_get(mm, address);
  return page == KSM_ZERO_PAGE ? 0 : page;
}

/**
 * No syscall, write or knob change has run since this pass's unstable tree
 * was started (ksm_mm_changed() clears it). Until one does, every filed
 * node's address still maps the page it was filed with, in a mergeable VMA
 * with an anon_vma: within a scan ksmd only remaps an item's address after
 * taking the item out of the tree (its own visit, or as the partner of a
 * merge). So a walk may take the filed page instead of looking the address
 * up (get_mergeable_page()), which is what each level of it costs.
 */
let unstableUnchanged = false;

/** Anything outside ksmd's scan ran (index.ts, before every other command). */
export function ksm_mm_changed(): void {
  unstableUnchanged = false;
}

/** The page of the partner unstable_search_insert last returned. */
export let partnerPage: usize = 0;

// ---- the unstable tree while nothing has changed: an index, the tree built only if needed ----
// While unstableUnchanged holds, the filed contents are exact and distinct
// (a second page of a content finds the first and merges instead of being
// filed), so every walk ends where a lookup of the content says: at the
// node of that content, or, if none, at a new leaf. The pass's nodes then
// go into a content index only (unstableLazy), and the red-black tree the
// reference builds is built only if memory changes in the middle of the
// pass: by replaying the pass's inserts (the arena's nodes, in order) and
// erasures (logged with how many inserts came before each), which gives
// its exact shape. A pass that ends unchanged never builds it.
const unstableIndex = content_index(memory.data(offsetof<ContentIndex>(), 8));
let unstableLazy = false;
/** Nodes filed this pass while lazy (they are the arena's first ones). */
let lazyInserts: u32 = 0;
/** The erasures while lazy: (node, inserts before it) pairs of u32. */
let eraseLog: usize = 0;
let eraseCap: u32 = 0;
let eraseCount: u32 = 0;

/** A pass begins: its unstable tree is emptied, and starts as an empty index. */
export function unstable_pass_start(): void {
  store<u32>(unstableRoot, 0);
  arena_reset();
  unstableUnchanged = true;
  cindex_reset(unstableIndex);
  unstableLazy = true;
  lazyInserts = 0;
  eraseCount = 0;
}

/** Log that node left the tree; false if the log cannot grow. */
function erase_log_push(node: usize): bool {
  if (eraseCount == eraseCap) {
    const cap: u32 = eraseCap == 0 ? 512 : eraseCap * 2;
    const t = block_regrow(eraseLog, <usize>eraseCap << 3, <usize>cap << 3, <usize>eraseCount << 3);
    if (t == 0) return false;
    eraseLog = t;
    eraseCap = cap;
  }
  store<u32>(eraseLog + (<usize>eraseCount << 3), <u32>node);
  store<u32>(eraseLog + (<usize>eraseCount << 3), lazyInserts, 4);
  eraseCount++;
  return true;
}

/** Link node u into the tree by its filed content (the walk's insert, on exact contents). */
function unstable_link(u: usize): void {
  rb_link_by_content(unstableRoot, u, UN_CONTENT);
}

/** Build the pass's red-black tree from its inserts and erasures so far; the tree is real from now on. */
function unstable_build(): void {
  unstableLazy = false;
  store<u32>(unstableRoot, 0);
  arena_iter_start();
  let e: u32 = 0;
  for (let k: u32 = 1; k <= lazyInserts; k++) {
    unstable_link(arena_next());
    while (e < eraseCount && load<u32>(eraseLog + (<usize>e << 3), 4) == k) {
      rb_erase(<usize>load<u32>(eraseLog + (<usize>e << 3)), unstableRoot);
      e++;
    }
  }
}

/** node (filed this pass) leaves the unstable tree. */
export function unstable_erase(node: usize): void {
  if (unstableLazy) {
    cindex_remove(unstableIndex, un_content(node), node);
    if (erase_log_push(node)) return;
    // No room to log it: the tree now, then the erasure in it.
    unstable_build();
  }
  rb_erase(node, unstableRoot);
}

/** File item's page under its content (a new leaf of the walk, the tree built later if needed). */
function unstable_file(item: usize, page: usize, content: u64, u: usize): void {
  store<u32>(u, <u32>item, 16);
  store<u32>(u, <u32>page, 20);
  store<u64>(u, content, 24);
  it_set_unode(item, u);
  it_set_flags(item, UNSTABLE);
  it_set_seq(item, <u32>seqnr & 0xff);
  pagesUnshared++;
}

/** unstable_tree_search_insert(): a partner of equal content (its page in partnerPage), or 0 after filing item. */
export function unstable_search_insert(item: usize, page: usize): usize {
  const content = page_content(page);
  if (unstableLazy) {
    if (unstableUnchanged) {
      const t = cindex_get(unstableIndex, content);
      if (t != 0) {
        // The very same page (shared through fork) is never merged with itself.
        if (un_page(t) == page) return 0;
        partnerPage = un_page(t);
        return un_item(t);
      }
      if (cindex_reserve(unstableIndex)) {
        const u = arena_alloc();
        cindex_put(unstableIndex, content, u);
        lazyInserts++;
        unstable_file(item, page, content, u);
        return 0;
      }
    }
    // Memory changed in the middle of the pass, or the index cannot grow: the tree as it stands, then the walk.
    unstable_build();
  }
  let parent: usize = 0;
  let left = false;
  let cur = rb_root_node(unstableRoot);
  while (cur != 0) {
    // The page cur's address maps now and its content (get_mergeable_page()):
    // as filed while nothing outside ksmd has run since the pass began.
    let tPage: usize;
    let tContent: u64;
    if (unstableUnchanged) {
      tPage = un_page(cur);
      tContent = un_content(cur);
    } else {
      const t = un_item(cur);
      tPage = get_mergeable_page(t);
      // The partner's page is gone: give up without filing item (it stays volatile).
      if (tPage == 0) return 0;
      tContent = page_content(tPage);
    }
    // The very same page (shared through fork) is never merged with itself.
    if (tPage == page) return 0;
    const c = memcmp_pages(content, tContent);
    parent = cur;
    if (c < 0) {
      left = true;
      cur = rb_left(cur);
    } else if (c > 0) {
      left = false;
      cur = rb_right(cur);
    } else {
      partnerPage = tPage;
      return un_item(cur);
    }
  }
  const u = arena_alloc();
  rb_link_node(u, parent, left, unstableRoot);
  rb_insert_color(u, unstableRoot);
  unstable_file(item, page, content, u);
  return 0;
}
