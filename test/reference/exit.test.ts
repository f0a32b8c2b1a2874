/**
 * Process exit (the scenario command `exit`, AddressSpace.exit()) on both
 * engines: exit_mmap() takes every VMA and zaps its pages; __ksm_exit()
 * frees the mm_slot at once only when ksmd's cursor is not on it and it has
 * no rmap_items, else ksmd frees the rmap_items on its next visit (the
 * counters lag until then, as on the kernel: mm/ksm.c scan_get_next_rmap_item's
 * ksm_test_exit() path); calls on an exited process fail with ESRCH; the
 * scenario parser refuses commands on an exited process, naming the line.
 */
import { describe, expect, it } from "vitest";
import { type AddressSpace, type Simulation } from "../../bindings/facade.js";
import { ScenarioError } from "../../bindings/scenario/commands.js";
import { parseScenario } from "../../bindings/scenario/parse.js";
import { runScenario } from "../../bindings/scenario/run.js";
import { eachEngine, engine } from "../support/engines.js";
import { P, a, errno, ksmSim, ok } from "../support/facade.js";

/** Private anonymous MADV_MERGEABLE memory at window page start, every page written with value. */
function merged(p: AddressSpace, start: number, pages: number, value: bigint): void {
  ok(p.mmap(a(start), pages * P, "rw-", "private|anon|fixed"));
  ok(p.madvise(a(start), pages * P, "mergeable"));
  ok(p.write(a(start), pages * P, { value }));
}

function g(sim: Simulation) {
  const s = sim.ksmStat();
  return { shared: s.pagesShared, sharing: s.pagesSharing, unshared: s.pagesUnshared, volatile: s.pagesVolatile, zero: s.ksmZeroPages };
}

eachEngine(() => {
  describe("exit_mmap", () => {
    it("takes every VMA of the process and leaves the others alone", () => {
      const sim = ksmSim({ run: "0" });
      const p = sim.process("p");
      const q = sim.process("q");
      ok(p.mmap(a(0), 4 * P, "rw-", "private|anon|fixed"));
      ok(p.mmap(a(10), 4 * P, "r--", "private|anon|fixed"));
      ok(p.write(a(0), 4 * P));
      ok(q.mmap(a(0), 2 * P, "rw-", "private|anon|fixed"));
      const before = p.mapCount;
      expect(p.vmas()).toHaveLength(2);
      expect(ok(p.exit())).toBe(0);
      expect(p.exited).toBe(true);
      expect(p.vmas()).toEqual([]);
      expect(p.mapCount).toBe(0);
      expect(before).toBeGreaterThanOrEqual(2);
      expect(q.vmas()).toHaveLength(1);
      expect(errno(q.write(a(0), 2 * P))).toBe("ok");
    });

    it("makes every later call of the process fail with ESRCH", () => {
      const sim = ksmSim({ run: "0" });
      const p = sim.process("p");
      ok(p.mmap(a(0), 4 * P, "rw-", "private|anon|fixed"));
      ok(p.exit());
      expect(errno(p.mmap(a(0), P, "rw-", "private|anon|fixed"))).toBe("ESRCH");
      expect(errno(p.munmap(a(0), P))).toBe("ESRCH");
      expect(errno(p.mprotect(a(0), P, "r--"))).toBe("ESRCH");
      expect(errno(p.madvise(a(0), P, "mergeable"))).toBe("ESRCH");
      expect(errno(p.mremap(a(0), P, 2 * P, { maymove: true }))).toBe("ESRCH");
      expect(errno(p.mlock(a(0), P))).toBe("ESRCH");
      expect(errno(p.munlock(a(0), P))).toBe("ESRCH");
      expect(errno(p.setMemoryMerge(1))).toBe("ESRCH");
      expect(errno(p.write(a(0), P))).toBe("ESRCH");
      expect(errno(p.read(a(0), P))).toBe("ESRCH");
      expect(errno(p.exit())).toBe("ESRCH");
      expect(errno(sim.fork(p, "child"))).toBe("ESRCH");
      expect(sim.batch().write(p, a(0), P).munmap(p, a(0), P).run().map(errno)).toEqual(["ESRCH", "ESRCH"]);
      expect(p.findVma(0)).toBeNull();
      expect(p.ksmStat()).toEqual({ ksmRmapItems: 0, ksmZeroPages: 0, ksmMergingPages: 0, ksmProcessProfit: 0, ksmMergeAny: false, ksmMergeable: false });
      // The name stays taken by the exited process.
      expect(sim.process("p")).toBe(p);
    });
  });

  describe("ksm_exit and ksmd", () => {
    it("frees the exited process's rmap_items only on ksmd's next visit (the counters lag)", () => {
      const sim = ksmSim();
      const A = sim.process("A");
      const B = sim.process("B");
      merged(A, 0, 4, 7n);
      merged(B, 0, 4, 7n);
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 7, unshared: 0, volatile: 0, zero: 0 });
      ok(B.exit());
      // B's pages are unmapped, but its rmap_items still hang off the stable node.
      expect(g(sim)).toEqual({ shared: 1, sharing: 7, unshared: 0, volatile: 0, zero: 0 });
      expect(sim.ksmScan(1)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 3, unshared: 0, volatile: 0, zero: 0 });
      // A keeps its sharing.
      expect(A.ksmStat().ksmMergingPages).toBe(4);
      expect(A.ksmStat().ksmRmapItems).toBe(4);
      expect(sim.ksmScan(1)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 3, unshared: 0, volatile: 0, zero: 0 });
    });

    it("frees the slot at once when it has no rmap_items (the easy case), else leaves it for ksmd", () => {
      // Easy: registered, never scanned; ksmd then has nothing left to scan.
      const easy = ksmSim({ run: "0" });
      const p = easy.process("p");
      merged(p, 0, 4, 3n);
      ok(p.exit());
      ok(easy.ksmWrite("run", "1"));
      expect(easy.ksmScan(1)).toBe(false);
      // Not easy: scanned once, so it has rmap_items; ksmd meets it once more, then it is gone.
      const hard = ksmSim();
      const q = hard.process("q");
      merged(q, 0, 4, 3n);
      expect(hard.ksmScan(1)).toBe(true);
      expect(g(hard).volatile + g(hard).unshared).toBe(4);
      ok(q.exit());
      expect(g(hard).volatile + g(hard).unshared).toBe(4);
      expect(hard.ksmScan(1)).toBe(true);
      expect(g(hard)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, zero: 0 });
      expect(hard.ksmScan(1)).toBe(false);
    });

    it("leaves a fork twin its pages: the parent's KSM sharing stays after the child exits", () => {
      const sim = ksmSim();
      const parent = sim.process("parent");
      merged(parent, 0, 4, 9n);
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 3, unshared: 0, volatile: 0, zero: 0 });
      const child = ok(sim.fork(parent, "child"));
      expect(sim.ksmScan(1)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 7, unshared: 0, volatile: 0, zero: 0 });
      ok(child.exit());
      expect(sim.ksmScan(1)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 3, unshared: 0, volatile: 0, zero: 0 });
      expect(parent.ksmStat().ksmMergingPages).toBe(4);
      expect(parent.vmas()).toHaveLength(1);
      // The parent's pages are still there and still merged: a write breaks one.
      ok(parent.write(a(0), P, { value: 1n }));
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 2, unshared: 1, volatile: 0, zero: 0 });
    });

    it("keeps a parent's plain pages shared with its exited fork child", () => {
      const sim = ksmSim({ run: "0" });
      const parent = sim.process("parent");
      ok(parent.mmap(a(0), 4 * P, "rw-", "private|anon|fixed"));
      ok(parent.write(a(0), 4 * P, "unique"));
      const child = ok(sim.fork(parent, "child"));
      ok(child.exit());
      ok(parent.madvise(a(0), 4 * P, "mergeable"));
      ok(sim.ksmWrite("run", "1"));
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 4, volatile: 0, zero: 0 });
    });

    it("drops the exited process's KSM zero pages at once (exit_mmap zaps them)", () => {
      const sim = ksmSim({ use_zero_pages: "1" });
      const p = sim.process("p");
      const q = sim.process("q");
      merged(p, 0, 4, 0n);
      merged(q, 0, 2, 0n);
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim).zero).toBe(6);
      ok(p.exit());
      expect(g(sim).zero).toBe(2);
      expect(q.ksmStat().ksmZeroPages).toBe(2);
    });

    it("run=2 frees an exited process's slot with its rmap_items", () => {
      const sim = ksmSim();
      const A = sim.process("A");
      const B = sim.process("B");
      merged(A, 0, 2, 5n);
      merged(B, 0, 2, 5n);
      expect(sim.ksmScan(2)).toBe(true);
      ok(B.exit());
      ok(sim.ksmWrite("run", "2"));
      expect(g(sim)).toEqual({ shared: 0, sharing: 0, unshared: 0, volatile: 0, zero: 0 });
      ok(sim.ksmWrite("run", "1"));
      expect(sim.ksmScan(2)).toBe(true);
      expect(g(sim)).toEqual({ shared: 1, sharing: 1, unshared: 0, volatile: 0, zero: 0 });
    });
  });

  describe("the scenario command", () => {
    it("exits the current process; reports of the others still work", () => {
      const text = [
        "mmap 0x100000000000 16K rw- private|anon|fixed",
        "fork child",
        "exit",
        "process main",
        "maps",
        "process other",
        "count",
      ].join("\n");
      expect(runScenario(text, { engine: engine() })).toBe("100000000000-100000004000 rw-p 00000000\nvmas 0\n");
    });
  });
});

describe("scenario errors around exit", () => {
  const bad = (text: string, line: number) => {
    let err: unknown;
    try {
      parseScenario(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as ScenarioError).lineNo).toBe(line);
  };

  it("refuses any command on the exited current process, naming the line", () => {
    for (const cmd of ["maps", "vmflags", "count", "ksm_stat", "exit", "fork x", "munmap 0 4K", "write 0 4K", "read 0 4K",
      "mmap 0 4K rw- private|anon", "mprotect 0 4K r--", "madvise 0 4K mergeable", "mremap 0 4K 8K", "mlock 0 4K",
      "munlock 0 4K", "prctl memory_merge 1", "max_map_count 100"]) {
      bad(`# comment\nexit\n${cmd}`, 3);
    }
  });

  it("lets machine-wide commands run and a switch to a live process go on", () => {
    expect(() => parseScenario("exit\necho hi\nksm run=0\nksm_get run\nfile f 4K\nprocess b\nmaps\nexit\nprocess c\ncount")).not.toThrow();
  });

  it("refuses a process name that has exited (names are not reused)", () => {
    bad("process a\nexit\nprocess main\nprocess a", 4);
    bad("exit\nprocess b\nfork main", 3);
  });

  it("is raised by the runner before anything runs", () => {
    expect(() => runScenario("echo x\nexit\nmaps")).toThrow(ScenarioError);
  });
});
