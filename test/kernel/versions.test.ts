/**
 * Kernel version presets and `--set` overrides (bindings/kernel/versions.ts),
 * checked against the version map of the spec (§0.4, §8 item 13).
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_KERNEL, KERNEL_PRESETS, type KernelSwitches, resolveKernel } from "../../bindings/kernel/versions.js";
import { Simulation } from "../../bindings/facade.js";

const SWITCHES: readonly (keyof KernelSwitches)[] = [
  "ksmEarly", "anonVmaSourceRule", "copiedFromForkCheck", "multiVmaMremap", "dontunmapSelfMerge", "dontunmapKeepsAccount", "stickyFlags",
  "softDirty", "mremapLegacyOrder", "dontunmapMunlocksRange", "ksmStatMergeLines", "ksmAllowSpecial", "prctlMemoryMerge",
  "mprotectUnaccount", "mmapExpandNextFirst", "ksmProfitCounters", "ksmZeroPagesCounter", "ksmSmartScan", "ksmAdvisor",
  "ksmForkResetsCounters", "madvisePopulatePerVma", "ksmDupCandidatesOnly",
];

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an exception");
}

describe("resolveKernel presets", () => {
  it("knows 6.1, 6.12, 6.16, 6.17 and 6.18, and 6.18 is the default", () => {
    expect(Object.keys(KERNEL_PRESETS).sort()).toEqual(["6.1", "6.12", "6.16", "6.17", "6.18"]);
    expect(DEFAULT_KERNEL).toBe("6.18");
    expect(new Simulation().kernel).toBe("6.18");
  });

  it("every preset sets every switch to a boolean", () => {
    for (const v of Object.keys(KERNEL_PRESETS)) {
      const k = resolveKernel(v);
      expect(Object.keys(k).sort(), v).toEqual([...SWITCHES].sort());
      for (const s of SWITCHES) expect(typeof k[s], `${v} ${s}`).toBe("boolean");
    }
  });

  it("6.18 (6.18.44): early KSM flag, 3-case anon rule, fork limit on mremap, multi-VMA mremap, DONTUNMAP self-merge", () => {
    expect(resolveKernel("6.18")).toEqual({
      ksmEarly: true, anonVmaSourceRule: true, copiedFromForkCheck: true, multiVmaMremap: true, dontunmapSelfMerge: true,
      dontunmapKeepsAccount: true, stickyFlags: true, softDirty: false, mremapLegacyOrder: false, dontunmapMunlocksRange: false,
      ksmStatMergeLines: true, ksmAllowSpecial: false, prctlMemoryMerge: true, mprotectUnaccount: true,
      mmapExpandNextFirst: false, ksmProfitCounters: true, ksmZeroPagesCounter: true, ksmSmartScan: true, ksmAdvisor: true,
      ksmForkResetsCounters: true, madvisePopulatePerVma: false, ksmDupCandidatesOnly: false,
    });
  });

  it("6.1 (Debian 12's own, booted): 6.12's switches, the old mmap_region() expand, no per-process KSM, fewer KSM files", () => {
    const k = resolveKernel("6.1");
    const k12 = resolveKernel("6.12");
    const differ = (Object.keys(k) as (keyof typeof k)[]).filter((s) => k[s] !== k12[s]).sort();
    expect(differ).toEqual([
      "dontunmapMunlocksRange", "dontunmapSelfMerge", "ksmAdvisor", "ksmDupCandidatesOnly", "ksmForkResetsCounters", "ksmProfitCounters", "ksmSmartScan", "ksmZeroPagesCounter",
      "madvisePopulatePerVma", "mmapExpandNextFirst", "mprotectUnaccount", "prctlMemoryMerge",
    ]);
    expect([k.dontunmapSelfMerge, k.mmapExpandNextFirst]).toEqual([true, true]);
    // A DONTUNMAP source unlocked whole, unsplit, as on 6.18 (pinned-dontunmap-locked-6.1).
    expect(k.dontunmapMunlocksRange).toBe(false);
  });

  it("the switches fit the Wasm engine's mask (gen-facts writes 1 << i as a u32 constant: bit 31 would come out negative)", () => {
    expect(SWITCHES.length).toBeLessThanOrEqual(31);
  });

  it("6.12 (Debian 12's, booted): old anon_vma rule, no KSM series, soft-dirty configured, the old mremap order", () => {
    const k = resolveKernel("6.12");
    expect([k.anonVmaSourceRule, k.ksmEarly, k.multiVmaMremap, k.stickyFlags, k.ksmStatMergeLines]).toEqual([false, false, false, false, false]);
    expect([k.softDirty, k.mremapLegacyOrder, k.dontunmapMunlocksRange, k.dontunmapKeepsAccount]).toEqual([true, true, true, true]);
  });

  it("6.17: the KSM series and multi-VMA mremap are in, the 6.18.9 fork limit is not", () => {
    const k = resolveKernel("6.17");
    expect([k.ksmEarly, k.multiVmaMremap, k.anonVmaSourceRule]).toEqual([true, true, true]);
    expect(k.copiedFromForkCheck).toBe(false);
    expect(k.ksmAllowSpecial).toBe(false);
  });

  it("6.16: the new anon_vma rule (879bca0a2c4f) is in, the KSM series and multi-VMA mremap are not", () => {
    const k = resolveKernel("6.16");
    expect(k.anonVmaSourceRule).toBe(true);
    expect([k.ksmEarly, k.multiVmaMremap, k.copiedFromForkCheck]).toEqual([false, false, false]);
    expect(k.ksmAllowSpecial).toBe(false);
  });
});

describe("resolveKernel overrides (--set)", () => {
  it("NAME=on|off|true|false|1|0 flips one switch and leaves the others", () => {
    const base = resolveKernel("6.18");
    for (const [word, value] of [["off", false], ["false", false], ["0", false], ["on", true], ["true", true], ["1", true]] as const) {
      const k = resolveKernel("6.18", [`ksmEarly=${word}`]);
      expect(k.ksmEarly, word).toBe(value);
      expect({ ...k, ksmEarly: base.ksmEarly }).toEqual(base);
    }
    const k = resolveKernel("6.16", ["ksmEarly=on", "multiVmaMremap=on", "anonVmaSourceRule=off"]);
    expect([k.ksmEarly, k.multiVmaMremap, k.anonVmaSourceRule]).toEqual([true, true, false]);
  });

  it("later overrides win", () => {
    expect(resolveKernel("6.18", ["ksmEarly=off", "ksmEarly=on"]).ksmEarly).toBe(true);
  });

  it("does not modify the presets", () => {
    resolveKernel("6.18", ["ksmEarly=off", "anonVmaSourceRule=off"]);
    expect(resolveKernel("6.18").ksmEarly).toBe(true);
    expect(KERNEL_PRESETS["6.18"]!.anonVmaSourceRule).toBe(true);
  });

  it("reaches the engine through the facade", () => {
    const s = new Simulation({ kernel: "6.18", set: ["copiedFromForkCheck=off"] });
    expect(s.engine.switches.copiedFromForkCheck).toBe(false);
    expect(new Simulation({ kernel: "6.16" }).engine.switches.ksmEarly).toBe(false);
  });
});

describe("resolveKernel errors name the bad argument", () => {
  it("an unknown version", () => {
    for (const v of ["6.15", "7.2", "", "6.18.44", "latest"]) {
      const e = thrown(() => resolveKernel(v));
      expect(e.message, v).toContain(`'${v}'`);
      expect(e.message).toContain("6.18");
    }
    expect(() => new Simulation({ kernel: "5.10" })).toThrow(/'5\.10'/);
  });

  it("an unknown switch, a bad value or a malformed override", () => {
    for (const o of ["bogus=on", "ksmEarly=maybe", "ksmEarly", "ksmEarly=", "=on", "ksmearly=on", "ksmEarly = on", "ksmEarly=on,off"]) {
      const e = thrown(() => resolveKernel("6.18", [o]));
      expect(e.message, o).toContain(`'${o}'`);
    }
  });

  it("names inherited from Object.prototype are not versions", () => {
    for (const v of ["toString", "constructor", "hasOwnProperty", "valueOf", "__proto__"]) {
      expect(() => resolveKernel(v), v).toThrow(`'${v}'`);
    }
  });

  it("names inherited from Object.prototype are not switches", () => {
    for (const o of ["toString=on", "constructor=off", "hasOwnProperty=1", "valueOf=true"]) {
      expect(() => resolveKernel("6.18", [o]), o).toThrow(`'${o}'`);
    }
  });
});
