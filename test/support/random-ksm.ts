/**
 * Random KSM scenarios for comparisons with the live kernel: a few processes
 * (fork), mergeable anonymous regions in a 256-page window, contents from a
 * small set (so pages merge), max_page_sharing 2 to 256, zero pages on and
 * off, content rewritten and pages unmapped between scans, and ksm_stat of
 * every process once ksmd has converged. Smart scan is off (with it,
 * unshared and volatile pages alternate pass by pass) and ksmd is stopped
 * while the scenario changes memory, so the kernel's background scanning
 * cannot interleave with the changes.
 */
import fc from "fast-check";

const W = 0x100000000000;
const hex = (n: number) => `0x${n.toString(16)}`;
const addr = (page: number) => hex(W + page * 4096);

const content = fc.constantFrom("0", "1", "2", "3", "unique", "cycle 3", "cycle 5", "1", "2");
const range = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 48 }));

const change = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(range, content).map(([[p, n], c]) => `write ${addr(p)} ${n}p ${c}`) },
  { weight: 1, arbitrary: range.map(([p, n]) => `munmap ${addr(p)} ${n}p`) },
  { weight: 1, arbitrary: range.map(([p, n]) => `madvise ${addr(p)} ${n}p dontneed`) },
  { weight: 1, arbitrary: range.map(([p, n]) => `madvise ${addr(p)} ${n}p unmergeable`) },
  { weight: 1, arbitrary: range.map(([p, n]) => `madvise ${addr(p)} ${n}p mergeable`) },
  { weight: 1, arbitrary: range.map(([p, n]) => `mprotect ${addr(p)} ${n}p r--`) },
);

export function randomKsmScenario(): fc.Arbitrary<string> {
  return fc
    .record({
      sharing: fc.oneof(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 2, max: 256 })),
      zero: fc.boolean(),
      pagesToScan: fc.constantFrom(100, 1000, 5000),
      regions: fc.array(fc.tuple(range, fc.boolean()), { minLength: 1, maxLength: 3 }),
      writes: fc.array(fc.tuple(range, content), { minLength: 1, maxLength: 6 }),
      fork: fc.boolean(),
      childWrites: fc.array(fc.tuple(range, content), { maxLength: 3 }),
      scans: fc.integer({ min: 2, max: 3 }),
      changes: fc.array(change, { maxLength: 5 }),
    })
    .map((r) => {
      const out = [`ksm max_page_sharing=${r.sharing} use_zero_pages=${r.zero ? 1 : 0} smart_scan=0 pages_to_scan=${r.pagesToScan} sleep_millisecs=10`];
      // A page the changes never reach keeps the process registered, so every ksm_scan can finish.
      out.push(`mmap ${addr(400)} 1p rw- private|anon|fixed`, `madvise ${addr(400)} 1p mergeable`, `write ${addr(400)} 1p 1`);
      for (const [[p, n], mergeable] of r.regions) {
        out.push(`mmap ${addr(p)} ${n}p rw- private|anon|fixed`);
        if (mergeable) out.push(`madvise ${addr(p)} ${n}p mergeable`);
      }
      for (const [[p, n], c] of r.writes) out.push(`write ${addr(p)} ${n}p ${c}`);
      const procs = ["main"];
      if (r.fork) {
        out.push("fork child");
        procs.push("child");
        for (const [[p, n], c] of r.childWrites) out.push(`write ${addr(p)} ${n}p ${c}`);
      }
      out.push("ksm run=1", `ksm_scan ${r.scans}`, "ksm run=0");
      out.push(...r.changes);
      out.push("ksm run=1", "ksm_scan 3");
      for (const p of procs) out.push(`process ${p}`, "ksm_stat");
      return `${out.join("\n")}\n`;
    });
}
