/**
 * Random KSM scenarios for comparisons with the live kernel: a few processes
 * (fork), mergeable anonymous regions in a 256-page window, contents from a
 * small set (so pages merge), max_page_sharing 2 to 256, zero pages on and
 * off, content rewritten and pages unmapped between scans, and ksm_stat of
 * every process once ksmd has converged. Smart scan is off (with it,
 * unshared and volatile pages alternate pass by pass) and ksmd is stopped
 * while the scenario changes memory, so the kernel's background scanning
 * cannot interleave with the changes.
 *
 * With { advisor: true } (simulator only: the kernel's advisor measures real
 * CPU time) ksmd runs under advisor_mode=scan-time with random advisor knobs
 * and sleep_millisecs, the mode is sometimes switched off and on mid-pass,
 * ksmd sometimes runs for a while by time, and `ksm_get pages_to_scan`
 * follows every scan.
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

/** The scan-time advisor's knobs and pacing for randomKsmScenario({ advisor: true }). */
const advisorSetup = fc.record({
  sleep: fc.constantFrom(0, 1, 20, 200),
  target: fc.constantFrom("1", "1", "2", "200", "18446744073709551615"),
  min: fc.constantFrom("1", "10", "500", "100000000", "4294967303"),
  max: fc.constantFrom("100", "1000", "30000", "4294967301"),
  cpu: fc.constantFrom("0", "10", "70", "4294967366"),
  toggleAt: fc.option(fc.constantFrom(1, 3, 50), { nil: undefined }),
  runMs: fc.option(fc.constantFrom(5, 100, 2500), { nil: undefined }),
  spin: fc.constantFrom(false, false, true),
});
/** What an arbitrary generates. */
type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;
type AdvisorSetup = ValueOf<typeof advisorSetup>;

/**
 * Exits for randomKsmScenario({ exits: true }): a second process `other`
 * with its own regions (written in full), and which of `child` / `other` exit
 * while ksmd is stopped (their rmap_items then wait for ksmd's next visit);
 * with { exits: "mid-pass" } (simulator only: it needs ksmd stopped at an
 * exact batch) one of them may also exit while ksmd's cursor is somewhere in
 * a pass, after ksm_run with a small pages_to_scan.
 */
const exitSetup = fc.record({
  otherRegions: fc.array(range, { minLength: 1, maxLength: 2 }),
  otherContents: fc.tuple(content, content),
  exitChild: fc.boolean(),
  exitOther: fc.boolean(),
  otherFirst: fc.boolean(),
  midPass: fc.option(fc.tuple(fc.constantFrom("child", "other"), fc.constantFrom(1, 7, 40), fc.constantFrom(10, 30, 90)), { nil: undefined }),
});
type ExitSetup = ValueOf<typeof exitSetup>;

export function randomKsmScenario(opts: { readonly advisor?: boolean; readonly exits?: boolean | "mid-pass" } = {}): fc.Arbitrary<string> {
  if (opts.exits !== undefined && opts.exits !== false) {
    const midPass = opts.exits === "mid-pass";
    return fc.tuple(randomKsmScenario({ advisor: opts.advisor ?? false }), exitSetup).map(([text, e]) => withExits(text, e, midPass));
  }
  const base = fc.record({
    sharing: fc.oneof(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 2, max: 256 })),
    zero: fc.boolean(),
    pagesToScan: fc.constantFrom(100, 1000, 5000),
    regions: fc.array(fc.tuple(range, fc.boolean()), { minLength: 1, maxLength: 3 }),
    writes: fc.array(fc.tuple(range, content), { minLength: 1, maxLength: 6 }),
    fork: fc.boolean(),
    childWrites: fc.array(fc.tuple(range, content), { maxLength: 3 }),
    scans: fc.integer({ min: 2, max: 3 }),
    changes: fc.array(change, { maxLength: 5 }),
  });
  // Without the advisor the arbitrary draws what it drew before the advisor existed, so earlier seeds give the same scenarios.
  const both: fc.Arbitrary<readonly [ValueOf<typeof base>, AdvisorSetup | null]> =
    opts.advisor === true ? fc.tuple(base, advisorSetup) : base.map((r) => [r, null] as const);
  return both.map(([r, a]) => {
    const out = [`ksm max_page_sharing=${r.sharing} use_zero_pages=${r.zero ? 1 : 0} smart_scan=0 pages_to_scan=${r.pagesToScan} sleep_millisecs=10`];
    // A page the changes never reach keeps the process registered, so every ksm_scan can finish.
    out.push(`mmap ${addr(400)} 1p rw- private|anon|fixed`, `madvise ${addr(400)} 1p mergeable`);
    // Before that page exists, 500 ms of empty passes with sleep_millisecs=0 give ksmd 500 ms of CPU time
    // (10 us a batch), which the advisor's first step counts (its context starts at 0): 50 % of CPU makes
    // its CPU floor low enough that the scan-time estimate decides.
    if (a?.spin === true) out.push("ksm sleep_millisecs=0 run=1", "ksm_run 500", "ksm run=0");
    out.push(`write ${addr(400)} 1p 1`);
    if (a !== null) {
      out.push(
        `ksm sleep_millisecs=${a.sleep} advisor_target_scan_time=${a.target} advisor_min_pages_to_scan=${a.min}`,
        `ksm advisor_max_pages_to_scan=${a.max} advisor_max_cpu=${a.cpu} advisor_mode=scan-time`,
      );
    }
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
    const scan = (n: number): string[] => (a === null ? [`ksm_scan ${n}`] : [`ksm_scan ${n}`, "ksm_get pages_to_scan"]);
    out.push("ksm run=1", ...scan(r.scans));
    if (a !== null && a.toggleAt !== undefined) {
      // Mid-pass (a few batches in): the mode change zeroes the context, so the next pass end measures from time 0.
      out.push(`ksm_run ${a.toggleAt}`, "ksm advisor_mode=none", "ksm advisor_mode=scan-time", ...scan(1));
    }
    if (a !== null && a.runMs !== undefined) {
      // Short runs when ksmd hardly sleeps, so that a run stays a few thousand batches.
      const ms = a.sleep === 0 ? Math.min(a.runMs, 5) : a.sleep === 1 ? Math.min(a.runMs, 100) : a.runMs;
      out.push(`ksm_run ${ms}`, "ksm_get pages_to_scan advisor_mode");
    }
    out.push("ksm run=0");
    out.push(...r.changes);
    out.push("ksm run=1", ...scan(3));
    for (const p of procs) out.push(`process ${p}`, "ksm_stat");
    return `${out.join("\n")}\n`;
  });
}

/**
 * A randomKsmScenario text with exits woven in: `other` is made before
 * ksmd first runs; the exits come after the changes (ksmd stopped), and the
 * final ksm_stat lines cover only the processes still alive. main never
 * exits (its page at 400 keeps ksmd with something to scan).
 */
function withExits(text: string, e: ExitSetup, midPass: boolean): string {
  const lines = text.trimEnd().split("\n");
  const forked = lines.includes("fork child");
  const other = ["process other"];
  e.otherRegions.forEach(([p, n], i) => {
    other.push(`mmap ${addr(p)} ${n}p rw- private|anon|fixed`, `madvise ${addr(p)} ${n}p mergeable`, `write ${addr(p)} ${n}p ${e.otherContents[i]!}`);
  });
  // `other` comes before main's first ksm run=1, then the scenario goes on where it was.
  const firstRun = lines.indexOf("ksm run=1");
  const back = forked ? "process child" : "process main";
  lines.splice(firstRun, 0, ...other, back);
  // On the kernel ksmd may finish a pass or two more before run=0 lands; which KSM page (of
  // a chain) a page joins after an exit depends on that history, so it converges first.
  if (!midPass) {
    const first = lines.findIndex((l) => l.startsWith("ksm_scan "));
    lines[first] = "ksm_scan 6";
  }
  const exiting: string[] = [];
  if (forked && e.exitChild) exiting.push("child");
  if (e.exitOther) exiting.push("other");
  if (e.otherFirst) exiting.reverse();
  const gone = new Set<string>();
  const exitLines = (name: string) => {
    gone.add(name);
    return [`process ${name}`, "exit"];
  };
  // The last `ksm run=1` restarts ksmd after the changes: exits go just before it.
  const restart = lines.lastIndexOf("ksm run=1");
  const late = exiting.flatMap(exitLines);
  let mid: string[] = [];
  if (midPass && e.midPass !== undefined) {
    const [name, pages, ms] = e.midPass;
    if ((name === "other" || forked) && !gone.has(name)) {
      // ksmd runs a little with small batches, stops anywhere in a pass, and the process exits there.
      // Then a little more of the pass, so that the counters show where ksmd freed its rmap_items.
      mid = [
        `ksm pages_to_scan=${pages} run=1`, `ksm_run ${ms}`, "ksm run=0", ...exitLines(name),
        "ksm run=1", `ksm_run ${ms}`, "ksm run=0", "process main", "ksm_stat",
      ];
    }
  }
  lines.splice(restart, 0, ...mid, ...late, "process main");
  // The final ksm_stat block: `process P` + ksm_stat for each live process.
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^process (\S+)$/.exec(lines[i]!);
    if (m !== null && i > restart && lines[i + 1] === "ksm_stat" && gone.has(m[1]!)) {
      i++;
      continue;
    }
    out.push(lines[i]!);
  }
  for (const name of ["other"]) if (!gone.has(name)) out.push(`process ${name}`, "ksm_stat");
  return `${out.join("\n")}\n`;
}
