/**
 * vm_flags arithmetic for the TypeScript side. Every VM_* bit vmasim models
 * lives in the low 32 bits (facts.ts), so a flag set is an unsigned 32-bit
 * number; `>>> 0` keeps VM_MERGEABLE (bit 31) from turning the value negative.
 */

/** flags | mask. */
export function vmSet(flags: number, mask: number): number {
  return (flags | mask) >>> 0;
}

/** flags & ~mask. */
export function vmClear(flags: number, mask: number): number {
  return (flags & ~mask) >>> 0;
}

/** Whether any bit of mask is set in flags. */
export function vmAny(flags: number, mask: number): boolean {
  return (flags & mask) !== 0;
}

/** Whether two flag sets are equal once the bits of ignore are masked off. */
export function vmEqualIgnoring(a: number, b: number, ignore: number): boolean {
  return ((a ^ b) & ~ignore) === 0;
}
