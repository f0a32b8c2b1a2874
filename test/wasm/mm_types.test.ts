/**
 * The Wasm engine's VMA record (assembly/mm_types.ts) is 32 bytes: start and
 * end pages share their words with the file id and the anon_vma chain
 * length. At the very top of the address space (the largest pages there
 * are), with file ids and chains above one, each field must read back as
 * written: the same VMAs as the reference engine, and the values expected.
 */
import { describe, expect, it } from "vitest";
import type { Engine, VmaInfo } from "../../bindings/engine.js";
import { createEngine } from "../../bindings/facade.js";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, TASK_SIZE } from "../../bindings/kernel/facts.js";
import { KERNEL_PRESETS } from "../../bindings/kernel/versions.js";

const RW = 3;
/** Five pages ending at TASK_SIZE: the highest pages a VMA can have. */
const TOP = TASK_SIZE - 5 * PAGE_SIZE;

/** The VMAs of the last of `generations` forks of a process that mapped files and anonymous memory at the top. */
function topOfAddressSpace(engine: Engine, generations: number): { vmas: VmaInfo[]; files: number[] } {
  const files: number[] = [];
  // Enough files that ids take more than a byte.
  for (let i = 0; i < 300; i++) files.push(engine.createFile(8 * PAGE_SIZE));
  let pid = engine.createProcess();
  const fixed = MAP_FIXED | MAP_PRIVATE;
  expect(engine.mmap(pid, TOP, PAGE_SIZE, RW, fixed, files[299]!, 3 * PAGE_SIZE)).toBe(TOP);
  expect(engine.mmap(pid, TOP + PAGE_SIZE, 2 * PAGE_SIZE, RW, fixed | MAP_ANONYMOUS, -1, 0)).toBe(TOP + PAGE_SIZE);
  expect(engine.mmap(pid, TOP + 3 * PAGE_SIZE, 2 * PAGE_SIZE, RW, MAP_FIXED | MAP_SHARED, files[257]!, 0)).toBe(TOP + 3 * PAGE_SIZE);
  // Faulted: the private VMAs get an anon_vma, which each fork chains one longer.
  expect(engine.writePages(pid, TOP, 3 * PAGE_SIZE, 0, 7n)).toBe(0);
  for (let g = 0; g < generations; g++) {
    const child = engine.fork(pid);
    expect(child).toBeGreaterThan(0);
    pid = child;
  }
  return { vmas: engine.vmas(pid, 0, TASK_SIZE), files };
}

describe("the Wasm engine's packed VMA record", () => {
  it("keeps the top pages, file ids and fork chains apart, as the reference engine does", () => {
    const wasm = topOfAddressSpace(createEngine("wasm", KERNEL_PRESETS["6.18"]!), 40);
    const ts = topOfAddressSpace(createEngine("ts", KERNEL_PRESETS["6.18"]!), 40);
    expect(wasm.vmas).toEqual(ts.vmas);
    const v = wasm.vmas;
    expect(v.map((x) => [x.start, x.end])).toEqual([
      [TOP, TOP + PAGE_SIZE],
      [TOP + PAGE_SIZE, TOP + 3 * PAGE_SIZE],
      [TOP + 3 * PAGE_SIZE, TASK_SIZE],
    ]);
    expect(v.map((x) => x.file)).toEqual([wasm.files[299], -1, wasm.files[257]]);
    expect(v.map((x) => x.pgoff)).toEqual([3, (TOP + PAGE_SIZE) / PAGE_SIZE, 0]);
    // Mapped, faulted, then forked 40 times: a chain of 41 on each private VMA; the shared one has no anon_vma.
    expect(v.map((x) => x.anonChain)).toEqual([41, 41, 0]);
    expect(v[0]!.anonVma).not.toBe(0);
  });
});
