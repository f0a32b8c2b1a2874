// Linear-memory allocation for the Wasm engine. Everything lives in blocks
// carved from one bump region above __heap_base; freed blocks go to a free
// list per size class and are reused, last freed first (likely still in
// cache). Index nodes (CLASS_CHUNK) are whole cache lines, aligned to them.
// Growth goes through memory.grow, whose failure is reported (0) instead of
// trapping, so a syscall that cannot get memory fails with ENOMEM and leaves
// the engine usable. The stub runtime's own allocator is never used (the
// engine creates no managed objects).

const PAGE_BYTES: usize = 65536;
const LINE: usize = 64;

/** Size classes: fixed records first, then powers of two from 64 bytes. */
export const CLASS_VMA: i32 = 0;
export const CLASS_CHUNK: i32 = 1;
const FIRST_POW2_CLASS: i32 = 2;
const MIN_POW2_SHIFT: i32 = 6;
const CLASSES: i32 = 32;

let heapTop: usize = 0;
/** Free-list heads, one per class (intrusive: a free block's first word is the next one). */
const freeHeads = memory.data(CLASSES * 4);
/** How many blocks each free list holds. */
const freeCounts = memory.data(CLASSES * 4);

let vmaBytes: usize = 0;
let chunkBytes: usize = 0;

/** Set the sizes of the fixed record classes (called once by init). */
export function alloc_init(vmaSize: usize, chunkSize: usize): void {
  vmaBytes = (vmaSize + 7) & ~7;
  chunkBytes = (chunkSize + LINE - 1) & ~(LINE - 1);
  heapTop = (__heap_base + 15) & ~15;
}

// @ts-ignore: decorator
@inline function headAt(cls: i32): usize {
  return freeHeads + (<usize>cls << 2);
}

// @ts-ignore: decorator
@inline function countAt(cls: i32): usize {
  return freeCounts + (<usize>cls << 2);
}

function classBytes(cls: i32): usize {
  if (cls == CLASS_VMA) return vmaBytes;
  if (cls == CLASS_CHUNK) return chunkBytes;
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

/** Take bytes from the bump region, growing memory; 0 if memory is exhausted. */
function sbrk(bytes: usize): usize {
  const ptr = heapTop;
  const end = <u64>ptr + <u64>bytes;
  if (end > <u64>0xffff0000) return 0;
  const have = <usize>memory.size() * PAGE_BYTES;
  if (<usize>end > have) {
    const need = ((<usize>end - have + PAGE_BYTES - 1) / PAGE_BYTES);
    if (memory.grow(<i32>need) < 0) return 0;
  }
  heapTop = <usize>end;
  return ptr;
}

/** A new block from the bump region; index nodes are aligned to a cache line (a gap big enough becomes a VMA block). */
function fresh_block(cls: i32, bytes: usize): usize {
  if (cls == CLASS_CHUNK) {
    const gap = ((heapTop + LINE - 1) & ~(LINE - 1)) - heapTop;
    if (gap != 0) {
      const g = sbrk(gap);
      if (g == 0) return 0;
      if (gap >= vmaBytes) block_free(CLASS_VMA, g);
    }
  }
  return sbrk(bytes);
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
    ptr = fresh_block(cls, bytes);
    if (ptr == 0) return 0;
  }
  if (cls == CLASS_VMA) {
    // A record is a few words: plain stores beat a bulk-memory call.
    for (let o: usize = 0; o < bytes; o += 8) store<u64>(ptr + o, 0);
  } else {
    memory.fill(ptr, 0, bytes);
  }
  return ptr;
}

export function block_free(cls: i32, ptr: usize): void {
  store<usize>(ptr, load<usize>(headAt(cls)));
  store<usize>(headAt(cls), ptr);
  store<u32>(countAt(cls), load<u32>(countAt(cls)) + 1);
}

/** Make sure n blocks of class cls can be allocated without touching memory.grow; false if not. */
export function block_reserve(cls: i32, n: u32): bool {
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
