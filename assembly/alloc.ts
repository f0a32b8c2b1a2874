// Linear-memory allocation for the Wasm engine. Everything lives in blocks
// taken from one bump region above __heap_base; freed blocks go to a free
// list per size class and are reused, last freed first (likely still in
// cache). Index nodes (CLASS_CHUNK) are whole cache lines, aligned to them;
// VMA records (32 bytes) are aligned to their size, so none straddles two lines.
// Growth goes through memory.grow, whose failure is reported (0) instead of
// trapping, so a syscall that cannot get memory fails with ENOMEM and leaves
// the engine usable. The stub runtime's own allocator is never used (the
// engine creates no managed objects).

const PAGE_BYTES: usize = 65536;
const LINE: usize = 64;

/** Size classes: fixed records first, then powers of two from 64 bytes. */
export const CLASS_VMA: i32 = 0;
export const CLASS_CHUNK: i32 = 1;
/** KSM's records (pages.ts, ksm_types.ts): a page, an rmap_item, a stable node, an mm_slot. */
export const CLASS_PAGE: i32 = 2;
export const CLASS_ITEM: i32 = 3;
export const CLASS_NODE: i32 = 4;
export const CLASS_SLOT: i32 = 5;
/**
 * A stable node's item link (ksm_types.ts) is a page record's size and
 * shares its class, as SLUB merges caches of one size: the page records
 * that merging frees become links while they are still in cache.
 */
export const CLASS_LINK: i32 = CLASS_PAGE;
const FIRST_POW2_CLASS: i32 = 6;
const MIN_POW2_SHIFT: i32 = 6;
const CLASSES: i32 = 32;

let heapTop: usize = 0;
/** Free-list heads, one per class (intrusive: a free block's first word is the next one). */
const freeHeads = memory.data(CLASSES * 4);
/** How many blocks each free list holds. */
const freeCounts = memory.data(CLASSES * 4);

let vmaBytes: usize = 0;
/**
 * VMA records are aligned to their size when it is a power of two of a
 * cache line or less (mm_types.ts: 32 bytes), so that none straddles two
 * lines; else to 8 bytes.
 */
let vmaAlign: usize = 8;
let chunkBytes: usize = 0;
/** Bytes of each fixed class (CLASS_VMA .. FIRST_POW2_CLASS - 1). */
const fixedBytes = memory.data(FIRST_POW2_CLASS * 4);

/** Set the sizes of the fixed record classes (called once by init). */
export function alloc_init(vmaSize: usize, chunkSize: usize): void {
  vmaBytes = (vmaSize + 7) & ~7;
  vmaAlign = vmaBytes <= LINE && (vmaBytes & (vmaBytes - 1)) == 0 ? vmaBytes : 8;
  chunkBytes = (chunkSize + LINE - 1) & ~(LINE - 1);
  store<u32>(fixedBytes + (<usize>CLASS_VMA << 2), <u32>vmaBytes);
  store<u32>(fixedBytes + (<usize>CLASS_CHUNK << 2), <u32>chunkBytes);
  heapTop = (__heap_base + 15) & ~15;
}

/** Set the size of one more fixed record class (a multiple of 8 bytes; called once by init). */
export function alloc_set_class(cls: i32, bytes: usize): void {
  store<u32>(fixedBytes + (<usize>cls << 2), <u32>((bytes + 7) & ~7));
}

// @ts-ignore: decorator
@inline function headAt(cls: i32): usize {
  return freeHeads + (<usize>cls << 2);
}

// @ts-ignore: decorator
@inline function countAt(cls: i32): usize {
  return freeCounts + (<usize>cls << 2);
}

// @ts-ignore: decorator
@inline function classBytes(cls: i32): usize {
  if (cls < FIRST_POW2_CLASS) return <usize>load<u32>(fixedBytes + (<usize>cls << 2));
  return <usize>1 << <usize>(cls - FIRST_POW2_CLASS + MIN_POW2_SHIFT);
}

/** The power-of-two class holding at least bytes. */
export function pow2_class(bytes: usize): i32 {
  let cls = FIRST_POW2_CLASS;
  let size: usize = <usize>1 << <usize>MIN_POW2_SHIFT;
  while (size < bytes) {
    size <<= 1;
    cls++;
  }
  return cls;
}

export function pow2_bytes(cls: i32): usize {
  return classBytes(cls);
}

/** Where the bump region must end: the 4 GiB of a 32-bit memory, less its last 64 KiB page (or lower: alloc_set_limit). */
const HEAP_END_MAX: u64 = 0xffff0000;
let heapEnd: u64 = HEAP_END_MAX;

/**
 * Make the bump region end after bytes more than it holds today, as if
 * linear memory ended there (a test hook: exhausting memory the real way
 * takes 4 GiB); u64.MAX_VALUE restores the full 4 GiB.
 */
export function alloc_set_limit(bytes: u64): void {
  const end = <u64>heapTop + bytes;
  heapEnd = bytes == u64.MAX_VALUE || end > HEAP_END_MAX ? HEAP_END_MAX : end;
}

/** Take bytes from the bump region, growing memory; 0 if memory is exhausted. */
function sbrk(bytes: usize): usize {
  const ptr = heapTop;
  const end = <u64>ptr + <u64>bytes;
  if (end > heapEnd) return 0;
  const have = <usize>memory.size() * PAGE_BYTES;
  if (<usize>end > have) {
    const need = <i32>((<usize>end - have + PAGE_BYTES - 1) / PAGE_BYTES);
    // Grow by an eighth at least (each memory.grow costs the host a new buffer), by what is needed if that fails.
    const pages = memory.size();
    const step = max(need, min(max(pages >> 3, 16), 65536 - pages));
    if (memory.grow(step) < 0 && (step == need || memory.grow(need) < 0)) return 0;
  }
  heapTop = <usize>end;
  return ptr;
}

/**
 * Move the bump pointer to a multiple of align (a power of two, 8 or more);
 * false if memory is exhausted. The gap's last VMA-sized piece becomes a
 * VMA block when that keeps VMA blocks aligned.
 */
function align_to(align: usize): bool {
  const gap = ((heapTop + align - 1) & ~(align - 1)) - heapTop;
  if (gap != 0) {
    const g = sbrk(gap);
    if (g == 0) return false;
    if (gap >= vmaBytes && align >= vmaAlign) block_free(CLASS_VMA, g + gap - vmaBytes);
  }
  return true;
}

/** Index nodes and KSM's stable nodes (searched level by level) start on a cache line. */
// @ts-ignore: decorator
@inline function line_aligned(cls: i32): bool {
  return cls == CLASS_CHUNK || cls == CLASS_NODE;
}

/** A new block from the bump region (aligned to a cache line for line_aligned classes, VMAs to vmaAlign). */
function fresh_block(cls: i32, bytes: usize): usize {
  if (line_aligned(cls) && !align_to(LINE)) return 0;
  if (cls == CLASS_VMA && !align_to(vmaAlign)) return 0;
  return sbrk(bytes);
}

/**
 * KSM's records come by the million (CLASS_PAGE .. CLASS_SLOT): each class
 * has a bump chunk of fresh memory (still zero: the bump region is never
 * handed out twice), used when its free list is empty, so that a block is
 * neither threaded onto the list nor cleared. cur == end: none.
 */
const bumpCur = memory.data(CLASSES * 4);
const bumpEnd = memory.data(CLASSES * 4);

// @ts-ignore: decorator
@inline function bumped(cls: i32): bool {
  return cls >= CLASS_PAGE && cls <= CLASS_SLOT;
}

/** Blocks left in cls's bump chunk. */
// @ts-ignore: decorator
@inline function bump_left(cls: i32, bytes: usize): u32 {
  const o = <usize>cls << 2;
  return <u32>((<usize>load<u32>(bumpEnd + o) - <usize>load<u32>(bumpCur + o)) / bytes);
}

/** The next block of cls's bump chunk (still zero), or 0 if the chunk is used up. */
// @ts-ignore: decorator
@inline function bump_take(cls: i32, bytes: usize): usize {
  const at = bumpCur + (<usize>cls << 2);
  const cur = <usize>load<u32>(at);
  if (cur >= <usize>load<u32>(bumpEnd + (<usize>cls << 2))) return 0;
  store<u32>(at, <u32>(cur + bytes));
  return cur;
}

/** A block of class cls (zeroed), or 0 if memory is exhausted. */
export function block_alloc(cls: i32): usize {
  const head = load<usize>(headAt(cls));
  const bytes = classBytes(cls);
  let ptr: usize;
  if (head != 0) {
    ptr = head;
    store<usize>(headAt(cls), load<usize>(head));
    store<u32>(countAt(cls), load<u32>(countAt(cls)) - 1);
  } else {
    if (bumped(cls)) {
      const b = bump_take(cls, bytes);
      if (b != 0) return b;
    }
    ptr = fresh_block(cls, bytes);
    if (ptr == 0) return 0;
  }
  if (bytes <= 64) {
    // A record is a few words: plain stores beat a bulk-memory call.
    for (let o: usize = 0; o < bytes; o += 8) store<u64>(ptr + o, 0);
  } else {
    memory.fill(ptr, 0, bytes);
  }
  return ptr;
}

/**
 * block_alloc() inline, for KSM's records on ksmd's hot paths (an
 * rmap_item a first visit, a link a merge): bytes is the class's size as
 * a constant, so the clearing unrolls; the slow path (fresh memory) is
 * block_alloc's.
 */
// @ts-ignore: decorator
@inline export function block_alloc_hot(cls: i32, bytes: usize): usize {
  const head = load<usize>(headAt(cls));
  if (head != 0) {
    store<usize>(headAt(cls), load<usize>(head));
    store<u32>(countAt(cls), load<u32>(countAt(cls)) - 1);
    for (let o: usize = 0; o < bytes; o += 8) store<u64>(head + o, 0);
    return head;
  }
  const b = bump_take(cls, bytes);
  return b != 0 ? b : block_alloc(cls);
}

export function block_free(cls: i32, ptr: usize): void {
  store<usize>(ptr, load<usize>(headAt(cls)));
  store<usize>(headAt(cls), ptr);
  store<u32>(countAt(cls), load<u32>(countAt(cls)) + 1);
}

/**
 * A power-of-two block of newBytes holding the first used bytes of old (a
 * power-of-two block of oldBytes, or 0), which is freed: a growable
 * array's next table. 0, with old kept, if memory is exhausted.
 */
export function block_regrow(old: usize, oldBytes: usize, newBytes: usize, used: usize): usize {
  const t = block_alloc(pow2_class(newBytes));
  if (t == 0) return 0;
  if (old != 0) {
    memory.copy(t, old, used);
    block_free(pow2_class(oldBytes), old);
  }
  return t;
}

/**
 * A new bump chunk of n blocks for cls; what was left of the old one goes
 * onto the free list. False, nothing changed, if memory is exhausted.
 */
function bump_refill(cls: i32, bytes: usize, n: u32): bool {
  const total = <u64>n * <u64>bytes;
  if (total > HEAP_END_MAX) return false;
  if (line_aligned(cls) && !align_to(LINE)) return false;
  const base = sbrk(<usize>total);
  if (base == 0) return false;
  const o = <usize>cls << 2;
  const end = <usize>load<u32>(bumpEnd + o);
  for (let p = <usize>load<u32>(bumpCur + o); p + bytes <= end; p += bytes) block_free(cls, p);
  store<u32>(bumpCur + o, <u32>base);
  store<u32>(bumpEnd + o, <u32>(base + <usize>total));
  return true;
}

/** Below this many blocks at hand, KSM's records get a new bump chunk of this many at least. */
const CARVE: u32 = 64;

/**
 * Make sure n blocks of class cls can be allocated without touching
 * memory.grow; false if not. Inline: every syscall reserves, and nearly
 * always the free list already holds enough: one load and a compare, not a
 * call out of run() (with tree_reserve's the same and sys_mprotect's
 * populate check, 166 -> 157 ns a random toggle with everything in cache).
 */
// @ts-ignore: decorator
@inline export function block_reserve(cls: i32, n: u32): bool {
  return load<u32>(countAt(cls)) >= n || block_reserve_more(cls, n);
}

/** block_reserve() when the free list holds fewer than n blocks: bump chunks or fresh blocks. */
function block_reserve_more(cls: i32, n: u32): bool {
  const have = load<u32>(countAt(cls));
  if (bumped(cls)) {
    // KSM's records come by the million: in bulk (exactly what is missing if memory is short).
    const bytes = classBytes(cls);
    const left = bump_left(cls, bytes);
    if (have + left >= n) return true;
    const missing = n - have - left;
    return (missing < CARVE && bump_refill(cls, bytes, CARVE)) || bump_refill(cls, bytes, missing);
  }
  while (load<u32>(countAt(cls)) < n) {
    const ptr = fresh_block(cls, classBytes(cls));
    if (ptr == 0) return false;
    block_free(cls, ptr);
  }
  return true;
}

/** Bytes of linear memory in use by the engine's blocks (free ones included). */
export function heap_bytes(): usize {
  return heapTop - ((__heap_base + 15) & ~15);
}
