// Warming a batch's tree paths before its commands run (Wasm engine only:
// the reference engine has nothing like it, and no result depends on it).
//
// At a million VMAs a random syscall's leaf and VMA records are cache
// misses, and one find() takes them one after the other: the leaf, then the
// records, each a memory round trip, with nothing else for the CPU to do
// meanwhile. run() hands each group of commands to warm_group() first, which
// looks them all up in passes that each end in a short loop of independent
// loads, so that the misses of the whole group are in flight together and
// the commands then run on warm lines. The passes: the inner nodes (from
// the top array, which is hot); their lines; the leaves; their lines; the
// records near each page; their lines. Only loads: a guess made stale by an
// earlier command of the group costs a miss, never a wrong result. The path
// found for each command (top index, index in the inner node, leaf, index
// in it) is kept, and warm_hint() hands it to the tree's cursor just before
// the command runs, so that the command's own search starts from its leaf
// (tree_hint() checks the path is still real, unless no tree's shape has
// changed since it was found).

import { CMD_SLOTS, OP_MADVISE, OP_MMAP, OP_MPROTECT, OP_MUNMAP } from "./generated/abi";
import { mm_of } from "./kernel";
import { mm_map_count } from "./mm_types";
import { PAGE } from "./mmap";
import { tree_child, tree_child_index, tree_hint, tree_records_near, tree_shape, tree_top_index, tree_top_node, tree_warm_node } from "./tree";

/** Commands looked up together before they run. */
export const WARM_GROUP: u32 = 32;
/**
 * Warm only trees this big: smaller ones stay in the caches, and there the
 * extra lookups cost more than they save. Since commands reuse the warmed
 * paths (warm_hint) warming pays from ~20k VMAs (random toggles: ~335 ->
 * ~270 ns at 50-100k VMAs, ~550 -> ~320 ns at 100-200k) and costs ~3%
 * around 6-12k; before that the threshold was 2^17.
 */
const WARM_MIN_VMAS: u32 = 1 << 14;
/** Each command's node of the current pass: its inner node, then its leaf (0: nothing to warm). */
const warmNode = memory.data(<i32>(WARM_GROUP * 4), 16);
/** Each command's path: its mm (0: none), top index, index in that inner node, and (warmNode) leaf and index in it. */
const warmMm = memory.data(<i32>(WARM_GROUP * 4), 16);
const warmTi = memory.data(<i32>(WARM_GROUP * 4), 16);
const warmIi = memory.data(<i32>(WARM_GROUP * 4), 16);
const warmLi = memory.data(<i32>(WARM_GROUP * 4), 16);
/** Each command's inner node. */
const warmInner = memory.data(<i32>(WARM_GROUP * 4), 16);
/** The trees' shape when the paths were found (tree_shape). */
let warmShape: u32 = 0;
/** Each command's page. */
const warmPage = memory.data(<i32>(WARM_GROUP * 8), 16);
/** Three records near each command's page (tree_records_near). */
const RECORDS: u32 = 3;
const warmRecord = memory.data(<i32>(WARM_GROUP * RECORDS * 4), 16);
/** Where the warming loads' values go, so that they are not optimized away. */
let warmSink: u32 = 0;

// @ts-ignore: decorator
@inline function node_at(j: u32): usize { return load<u32>(warmNode + (<usize>j << 2)); }
// @ts-ignore: decorator
@inline function set_node_at(j: u32, c: usize): void { store<u32>(warmNode + (<usize>j << 2), <u32>c); }
// @ts-ignore: decorator
@inline function page_at(j: u32): u64 { return load<u64>(warmPage + (<usize>j << 3)); }

/** The inner node of a one-address command (mmap, munmap, mprotect, madvise) in a big tree, else 0; records its mm and top index. */
function command_inner(c: usize, j: u32): usize {
  store<u32>(warmMm + (<usize>j << 2), 0);
  const op = <u32>load<f64>(c);
  if (op != OP_MPROTECT && op != OP_MUNMAP && op != OP_MMAP && op != OP_MADVISE) return 0;
  const a = load<f64>(c, 16);
  if (!(a >= 0 && a < 9007199254740992.0)) return 0;
  const mm = mm_of(<u32>load<f64>(c, 8));
  if (mm == 0 || mm_map_count(mm) < WARM_MIN_VMAS) return 0;
  const page = <u64>(a / PAGE);
  const ti = tree_top_index(mm, page);
  if (ti < 0) return 0;
  store<u64>(warmPage + (<usize>j << 3), page);
  store<u32>(warmMm + (<usize>j << 2), <u32>mm);
  store<i32>(warmTi + (<usize>j << 2), ti);
  return tree_top_node(mm, ti);
}

/** Load the lines of every command's node (a short loop of independent loads). */
function warm_nodes(n: u32): void {
  let t: u32 = 0;
  for (let j: u32 = 0; j < n; j++) {
    const c = node_at(j);
    if (c != 0) t ^= tree_warm_node(c);
  }
  warmSink ^= t;
}

/** Warm the paths of the n commands (n <= WARM_GROUP) starting at command buffer address first. */
export function warm_group(first: usize, n: u32): void {
  let any = false;
  for (let j: u32 = 0; j < n; j++) {
    const inner = command_inner(first + (<usize>j * CMD_SLOTS << 3), j);
    set_node_at(j, inner);
    if (inner != 0) any = true;
  }
  if (!any) return;
  warmShape = tree_shape();
  warm_nodes(n);
  for (let j: u32 = 0; j < n; j++) {
    const inner = node_at(j);
    if (inner != 0) {
      const ii = tree_child_index(inner, page_at(j));
      store<i32>(warmIi + (<usize>j << 2), ii);
      store<u32>(warmInner + (<usize>j << 2), <u32>inner);
      set_node_at(j, tree_child(inner, ii));
    }
  }
  warm_nodes(n);
  for (let j: u32 = 0; j < n; j++) {
    const leaf = node_at(j);
    const out = warmRecord + (<usize>(j * RECORDS) << 2);
    if (leaf != 0) store<i32>(warmLi + (<usize>j << 2), tree_records_near(leaf, page_at(j), out));
    else memory.fill(out, 0, RECORDS * 4);
  }
  // A record is half a cache line, aligned to it (mm_types.ts): one load warms it.
  let t: u32 = 0;
  for (let k: u32 = 0; k < n * RECORDS; k++) {
    const p = <usize>load<u32>(warmRecord + (<usize>k << 2));
    if (p != 0) t ^= load<u32>(p);
  }
  warmSink ^= t;
}

/**
 * Just before command j of the group runs: the tree's cursor on the path
 * found for it, if any (warm_group wrote every command's mm, 0 for none).
 */
export function warm_hint(j: u32): void {
  const mm = <usize>load<u32>(warmMm + (<usize>j << 2));
  if (mm == 0) return;
  const at = <usize>j << 2;
  tree_hint(mm, load<i32>(warmTi + at), load<i32>(warmIi + at), load<u32>(warmInner + at), node_at(j), load<i32>(warmLi + at), warmShape);
}
