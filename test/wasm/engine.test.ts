/**
 * The Wasm engine when its linear memory runs out (bindings/wasm/engine.ts,
 * assembly/alloc.ts). At 4 GiB that takes tens of millions of VMAs, so the
 * test lowers the ceiling with limitMemory(): the same path (memory.grow is
 * never reached, the bump region refuses) gives ENOMEM before any change,
 * and the engine goes on when memory comes back. exit needs no memory: it
 * works when memory is full and gives its records back.
 */
import { describe, expect, it } from "vitest";
import { Simulation } from "../../bindings/index.js";
import type { WasmEngine } from "../../bindings/wasm/engine.js";

const BASE = 0x100000000000;

function ok<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`expected success, got ${r.errno}`);
  return r.value;
}
const PAGE = 4096;

/** A Wasm simulation whose records may grow by `bytes` at most, with process "main". */
function tight(bytes: number) {
  const sim = new Simulation({ engine: "wasm" });
  sim.maxMapCount = 1 << 22;
  const p = sim.process("main");
  (sim.engine as WasmEngine).limitMemory(bytes);
  return { sim, p, engine: sim.engine as WasmEngine };
}

describe("the Wasm engine out of linear memory", () => {
  it("splits and mmaps fail with ENOMEM and change nothing; calls that split nothing still work, munmap among them", () => {
    const { p, engine } = tight(1 << 20);
    const pages = 1 << 20;
    expect(p.mmap(BASE, pages * PAGE, "rw-", "private|anon|fixed").ok).toBe(true);
    // Every other page read-only: each mprotect splits two VMAs off, until memory runs out.
    let n = 0;
    let errno = "";
    for (; n < pages / 2 - 1; n++) {
      const r = p.mprotect(BASE + (2 * n + 1) * PAGE, PAGE, "r--");
      if (!r.ok) {
        errno = r.errno;
        break;
      }
    }
    expect(errno).toBe("ENOMEM");
    expect(n).toBeGreaterThan(2000); // about 45 bytes a VMA: some 10 000 splits fit in 1 MiB
    const vmas = p.vmas();
    expect(vmas).toHaveLength(2 * n + 1);
    // Refused calls change nothing: the split again, a munmap that splits, a new VMA.
    expect(p.mprotect(BASE + (2 * n + 1) * PAGE, PAGE, "r--")).toEqual({ ok: false, errno: "ENOMEM" });
    expect(p.munmap(BASE + (2 * n + 3) * PAGE, PAGE)).toEqual({ ok: false, errno: "ENOMEM" });
    expect(p.mmap(BASE + 2 * pages * PAGE, PAGE, "rw-", "private|anon|fixed")).toEqual({ ok: false, errno: "ENOMEM" });
    expect(p.vmas()).toEqual(vmas);
    // What splits nothing needs no memory: whole VMAs change (here merging back) or go.
    expect(p.mprotect(BASE + PAGE, PAGE, "rw-")).toEqual({ ok: true, value: 0 });
    expect(p.mapCount).toBe(2 * n - 1);
    expect(p.madvise(BASE, 3 * PAGE, "dontfork")).toEqual({ ok: true, value: 0 });
    for (let i = 1; i < 100; i++) expect(p.munmap(BASE + (2 * i + 1) * PAGE, PAGE).ok).toBe(true);
    expect(p.mapCount).toBe(2 * n - 100);
    // (A split also reserves index nodes for the worst case, so freed VMA
    // records alone do not make room for one.) Memory back: splits go on.
    engine.limitMemory(null);
    for (let i = 0; i < 20; i++) expect(p.mprotect(BASE + (2 * (n + i) + 1) * PAGE, PAGE, "r--").ok).toBe(true);
    expect(p.mmap(BASE + 2 * pages * PAGE, PAGE, "rw-", "private|anon|fixed").ok).toBe(true);
  });

  it("a write that needs page records fails whole, a batch goes on past the failure, and fork fails without a child", () => {
    const { sim, p, engine } = tight(64 << 10);
    expect(p.mmap(BASE, 4096 * PAGE, "rw-", "private|anon|fixed").ok).toBe(true);
    expect(p.mmap(BASE + 16384 * PAGE, 1024 * PAGE, "r--", "private|anon|fixed|locked").ok).toBe(true);
    // 4096 page records (16 bytes each) and their page table do not fit in what is left.
    expect(p.write(BASE, 4096 * PAGE, { value: 7n })).toEqual({ ok: false, errno: "ENOMEM" });
    expect(p.read(BASE, PAGE).ok).toBe(true);
    // Nothing was written: merging is not affected and no page is present for KSM to see.
    expect(p.madvise(BASE, 4096 * PAGE, "mergeable").ok).toBe(true);
    sim.ksmWrite("run", "1");
    sim.ksmScan(1);
    expect(p.ksmStat().ksmRmapItems).toBe(0);
    sim.ksmWrite("run", "0");

    const b = sim.batch();
    b.write(p, BASE, PAGE, { value: 1n }).write(p, BASE, 4096 * PAGE, { value: 2n }).mprotect(p, BASE, PAGE, "r--");
    const results = b.run();
    expect(results[1]).toEqual({ ok: false, errno: "ENOMEM" });
    expect(results[2]).toEqual({ ok: true, value: 0 });

    const before = sim.processList().length;
    for (let i = 0; i < 2000; i++) p.mmap(BASE + (8192 + 2 * i) * PAGE, PAGE, "rw-", "private|anon|fixed");
    const child = sim.fork(p, "child");
    expect(child.ok).toBe(false);
    expect(sim.processList()).toHaveLength(before);

    // mprotect adding write to a locked VMA populates it at once: refused whole when that cannot fit.
    const locked = p.vmas(BASE + 16384 * PAGE, BASE + 17408 * PAGE);
    expect(p.mprotect(BASE + 16384 * PAGE, 1024 * PAGE, "rw-")).toEqual({ ok: false, errno: "ENOMEM" });
    expect(p.vmas(BASE + 16384 * PAGE, BASE + 17408 * PAGE)).toEqual(locked);

    engine.limitMemory(null);
    expect(p.mprotect(BASE + 16384 * PAGE, 1024 * PAGE, "rw-").ok).toBe(true);
    expect(p.write(BASE + PAGE, 4095 * PAGE, { value: 2n }).ok).toBe(true);
    expect(sim.fork(p, "child").ok).toBe(true);
  });

  it("exit works with memory exhausted (it only frees), and what it frees serves the next calls", () => {
    const { sim, p, engine } = tight(48 << 10);
    ok(sim.ksmWrite("run", "1"));
    for (const q of [p, sim.process("other")]) {
      expect(q.mmap(BASE, 2048 * PAGE, "rw-", "private|anon|fixed").ok).toBe(true);
      expect(q.madvise(BASE, 2048 * PAGE, "mergeable").ok).toBe(true);
    }
    const other = sim.process("other");
    // Fill memory with page records and rmap_items until a write is refused.
    let n = 0;
    while (n < 2048 && p.write(BASE + n * PAGE, 64 * PAGE, { cycle: 5n }).ok && other.write(BASE + n * PAGE, 64 * PAGE, "unique").ok) n += 64;
    expect(n).toBeLessThan(2048);
    expect(p.write(BASE + n * PAGE, 64 * PAGE, { cycle: 5n })).toEqual({ ok: false, errno: "ENOMEM" });
    expect(sim.fork(p, "child")).toEqual({ ok: false, errno: "ENOMEM" });
    expect(other.exit()).toEqual({ ok: true, value: 0 });
    expect(other.vmas()).toEqual([]);
    // Its page records are free again: the write refused above fits now.
    expect(p.write(BASE + n * PAGE, 64 * PAGE, { cycle: 5n }).ok).toBe(true);
    engine.limitMemory(null);
    expect(sim.ksmScan(2)).toBe(true);
  });
});

describe("the Wasm engine's KSM records stay bounded", () => {
  it("a KSM page whose sharers leave and come back again and again: its list of items does not grow", () => {
    // A stable node's list keeps one link per membership; links of pages gone are dropped once they outnumber the members.
    const sim = new Simulation({ engine: "wasm" });
    const p = sim.process("main");
    const n = 200;
    ok(p.mmap(BASE, n * PAGE, "rw-", "private|anon|fixed"));
    ok(p.madvise(BASE, n * PAGE, "mergeable"));
    ok(p.write(BASE, n * PAGE, { value: 0x41n }));
    for (const [k, v] of [["max_page_sharing", "1000"], ["smart_scan", "0"], ["pages_to_scan", "4096"], ["sleep_millisecs", "0"], ["run", "1"]] as const) {
      ok(sim.ksmWrite(k, v));
    }
    expect(sim.ksmScan(2)).toBe(true);
    const cycle = (): void => {
      ok(p.write(BASE + PAGE, (n - 1) * PAGE, "unique")); // all but page 0 leave the KSM page at their next visit
      expect(sim.ksmScan(1)).toBe(true);
      ok(p.write(BASE + PAGE, (n - 1) * PAGE, { value: 0x41n }));
      expect(sim.ksmScan(2)).toBe(true);
      expect(sim.ksmStat()).toMatchObject({ pagesShared: 1, pagesSharing: n - 1 });
    };
    for (let i = 0; i < 5; i++) cycle();
    const before = sim.engine.memoryBytes()!;
    for (let i = 0; i < 100; i++) cycle();
    // Without dropping dead links: 100 x 199 more links of 16 bytes (311 KiB).
    expect(sim.engine.memoryBytes()! - before).toBeLessThan(32 * 1024);
  });
});
