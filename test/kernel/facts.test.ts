/**
 * Kernel facts (bindings/kernel/facts.ts) against the spec's flag table
 * (§1.1) and the uapi errno values.
 */
import { describe, expect, it } from "vitest";
import * as facts from "../../bindings/kernel/facts.js";
import {
  ERRNO, VM_ACCOUNT, VM_DONTEXPAND, VM_FLAG_TABLE, VM_IO, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_MERGEABLE, VM_MIXEDMAP,
  VM_PFNMAP, VM_READ, VM_SPECIAL, VM_WRITE, errnoName, vmFlagCodes,
} from "../../bindings/kernel/facts.js";

/** Spec §1.1: bit → smaps mnemonic, for the 6.18 x86-64 target (bits 0–31). */
const SPEC_CODES: readonly string[] = [
  "rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "um", "pf", "gu", "uw", "lo", "io", "sr",
  "rr", "dc", "de", "lf", "ac", "nr", "ht", "sf", "ar", "wf", "dd", "sd", "mm", "hg", "nh", "mg",
];

describe("VM flag facts", () => {
  it("VM_FLAG_TABLE follows the spec's bit/mnemonic table, in bit order", () => {
    expect(VM_FLAG_TABLE.map((f) => f.bit)).toEqual([...Array(32).keys()]);
    expect(VM_FLAG_TABLE.map((f) => f.code)).toEqual(SPEC_CODES);
  });

  it("every VM_FLAG_TABLE entry's bit matches the exported constant of the same name", () => {
    const exported = facts as unknown as Record<string, unknown>;
    for (const f of VM_FLAG_TABLE) {
      if (f.name === "VM_ARCH_1") continue; // arch-specific, unused on x86 (no constant)
      expect(exported[f.name], f.name).toBe(2 ** f.bit);
    }
  });

  it("every exported VM_* single-bit constant has its entry in the table", () => {
    const exported = facts as unknown as Record<string, unknown>;
    const byName = new Map(VM_FLAG_TABLE.map((f) => [f.name, f.bit]));
    const masks = new Set(["VM_NONE", "VM_SPECIAL", "VM_ACCESS_FLAGS", "VM_LOCKED_MASK", "VM_MAY_FLAGS", "VM_STICKY", "VM_FLAG_TABLE"]);
    for (const [name, value] of Object.entries(exported)) {
      if (!name.startsWith("VM_") || masks.has(name)) continue;
      expect(byName.has(name), name).toBe(true);
      expect(value, name).toBe(2 ** byName.get(name)!);
    }
  });

  it("VM_SPECIAL is IO|DONTEXPAND|PFNMAP|MIXEDMAP = 0x10044400", () => {
    expect(VM_SPECIAL).toBe(0x10044400);
    expect(VM_SPECIAL).toBe(VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP);
  });

  it("derived masks (spec §1.1)", () => {
    expect(facts.VM_ACCESS_FLAGS).toBe(0x7);
    expect(facts.VM_LOCKED_MASK).toBe(0x2000 | 0x80000);
    expect(facts.VM_MAY_FLAGS).toBe(0x70);
  });
});

describe("vmFlagCodes", () => {
  it("prints mnemonics in bit order, separated by single spaces", () => {
    expect(vmFlagCodes(VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT)).toBe("rd wr mr mw me ac");
    expect(vmFlagCodes(VM_ACCOUNT | VM_READ)).toBe("rd ac");
    expect(vmFlagCodes(0)).toBe("");
  });

  it("prints every modelled bit, bit 31 (mg) included, for the unsigned flag word", () => {
    expect(vmFlagCodes(2 ** 32 - 1)).toBe(SPEC_CODES.join(" "));
    expect(vmFlagCodes(VM_MERGEABLE)).toBe("mg");
    expect(VM_MERGEABLE).toBe(0x80000000);
    expect(vmFlagCodes((VM_MERGEABLE | VM_READ) >>> 0)).toBe("rd mg");
  });

  it("ignores bits above 31 that the table does not name", () => {
    expect(vmFlagCodes(2 ** 32 + VM_READ)).toBe("rd");
  });
});

describe("errno", () => {
  it("the uapi numbers", () => {
    expect(ERRNO).toMatchObject({ EPERM: 1, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, EEXIST: 17, EINVAL: 22, EOVERFLOW: 75 });
    expect([facts.EPERM, facts.EBADF, facts.EAGAIN, facts.ENOMEM, facts.EACCES, facts.EFAULT, facts.EEXIST, facts.EINVAL]).toEqual([1, 9, 11, 12, 13, 14, 17, 22]);
  });

  it("errnoName maps each number back to its name, and unknown numbers to E<n>", () => {
    for (const [name, num] of Object.entries(ERRNO)) expect(errnoName(num)).toBe(name);
    expect(errnoName(12)).toBe("ENOMEM");
    expect(errnoName(11)).toBe("EAGAIN");
    expect(errnoName(999)).toBe("E999");
    expect(errnoName(0)).toBe("E0");
  });

  it("errno numbers are distinct", () => {
    const nums = Object.values(ERRNO);
    expect(new Set(nums).size).toBe(nums.length);
  });
});

describe("other constants", () => {
  it("page size and limits", () => {
    expect(facts.PAGE_SIZE).toBe(2 ** facts.PAGE_SHIFT);
    expect(facts.PAGE_SIZE).toBe(4096);
    expect(facts.DEFAULT_MAX_MAP_COUNT).toBe(65535 - 5);
    expect(facts.STACK_GUARD_GAP_PAGES).toBe(256);
    expect([facts.WINDOW_START, facts.WINDOW_END]).toEqual([0x100000000000, 0x200000000000]);
  });

  it("mmap and mremap uapi values", () => {
    expect(facts.MAP_FLAG_NAMES).toEqual({
      private: 0x02, shared: 0x01, anonymous: 0x20, anon: 0x20, fixed: 0x10, fixed_noreplace: 0x100000, growsdown: 0x100,
      noreserve: 0x4000, populate: 0x8000, locked: 0x2000,
    });
    expect([facts.MREMAP_MAYMOVE, facts.MREMAP_FIXED, facts.MREMAP_DONTUNMAP]).toEqual([1, 2, 4]);
    expect(facts.PR_SET_MEMORY_MERGE).toBe(67);
  });

  it("madvise advice values (uapi mman-common.h)", () => {
    expect(facts.MADV).toMatchObject({
      normal: 0, random: 1, sequential: 2, willneed: 3, dontneed: 4, free: 8, remove: 9, dontfork: 10, dofork: 11,
      mergeable: 12, unmergeable: 13, hugepage: 14, nohugepage: 15, dontdump: 16, dodump: 17, wipeonfork: 18,
      keeponfork: 19, cold: 20, pageout: 21, populate_read: 22, populate_write: 23, collapse: 25,
    });
  });
});
