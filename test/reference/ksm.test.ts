/**
 * PR_SET_MEMORY_MERGE through the facade (bindings/reference/ksm.ts), by
 * kernel version (spec §6). On both engines (eachEngine,
 * test/support/engines.ts); page numbers are relative to the report window
 * (test/support/facade.ts).
 */
import { describe, expect, it } from "vitest";
import { Simulation, type AddressSpace } from "../../bindings/facade.js";
import { VM_MERGEABLE } from "../../bindings/kernel/facts.js";
import { eachEngine, engine } from "../support/engines.js";
import { a, anon, at, has, layout, ok, P, sim } from "../support/facade.js";

eachEngine(() => {
  describe("PR_SET_MEMORY_MERGE (spec §6)", () => {
    function seed(kernel: string): AddressSpace {
      const { p } = sim(kernel);
      ok(p.setMemoryMerge(1));
      anon(p, 0, 8);
      anon(p, 8, 8);
      return p;
    }

    it("the seed case: two adjacent 8-page anonymous mmaps are 1 VMA on 6.18 and 2 on 6.16, all mg", () => {
      const p18 = seed("6.18");
      expect(layout(p18)).toEqual([[0, 16]]);
      const p16 = seed("6.16");
      expect(layout(p16)).toEqual([[0, 8], [8, 16]]);
      for (const v of [...p18.vmas(), ...p16.vmas()]) expect(v.vmflags).toBe("rd wr mr mw me ac mg");
    });

    it("6.17 already has the early KSM flag; ksmEarly=off on 6.18 brings the 6.16 behaviour back", () => {
      expect(layout(seed("6.17"))).toEqual([[0, 16]]);
      const s = new Simulation({ engine: engine(), kernel: "6.18", set: ["ksmEarly=off"] });
      const p = s.process("main");
      ok(p.setMemoryMerge(1));
      anon(p, 0, 8);
      anon(p, 8, 8);
      expect(layout(p)).toEqual([[0, 8], [8, 16]]);
    });

    it("ksm_merge selftest: merges each time on 6.17+, not on 6.16", () => {
      for (const [kernel, merges] of [["6.18", true], ["6.16", false]] as const) {
        const { p } = sim(kernel);
        anon(p, 1, 1);
        anon(p, 2, 1);
        expect(layout(p)).toEqual([[1, 3]]);
        ok(p.munmap(a(2), P));
        ok(p.setMemoryMerge(1));
        anon(p, 2, 1);
        expect(layout(p), kernel).toEqual(merges ? [[1, 3]] : [[1, 2], [2, 3]]);
        ok(p.munmap(a(1), 2 * P));
        anon(p, 1, 1);
        anon(p, 2, 1);
        expect(layout(p), kernel).toEqual(merges ? [[1, 3]] : [[1, 2], [2, 3]]);
      }
    });

    it("enabling marks existing VMAs without splitting or merging; shared memory is left alone (K1, K3, t19)", () => {
      const { p } = sim();
      anon(p, 1, 4);
      ok(p.madvise(a(3), 2 * P, "mergeable"));
      expect(layout(p)).toEqual([[1, 3], [3, 5]]);
      ok(p.mmap(a(10), 2 * P, "rw-", "shared|anon|fixed"));
      ok(p.setMemoryMerge(1));
      expect(layout(p)).toEqual([[1, 3], [3, 5], [10, 12]]);
      expect(p.vmas().map((v) => has(v.flags, VM_MERGEABLE))).toEqual([true, true, false]);
      ok(p.mmap(a(12), 2 * P, "rw-", "shared|anon|fixed"));
      expect(has(at(p, 12).flags, VM_MERGEABLE)).toBe(false);
    });

    it("disabling clears VM_MERGEABLE everywhere, MADV_MERGEABLE ones included, again without merging", () => {
      const { p } = sim();
      anon(p, 1, 4);
      ok(p.madvise(a(3), 2 * P, "mergeable"));
      ok(p.setMemoryMerge(1));
      ok(p.setMemoryMerge(0));
      expect(p.vmas().map((v) => has(v.flags, VM_MERGEABLE))).toEqual([false, false]);
      expect(layout(p)).toEqual([[1, 3], [3, 5]]);
      anon(p, 5, 2);
      expect(has(at(p, 5).flags, VM_MERGEABLE)).toBe(false);
    });
  });
});
