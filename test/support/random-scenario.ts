/**
 * Random scenarios for differential tests: calls in a 64-page window of the
 * report window, mixing every VMA command, several processes and fork.
 */
import fc from "fast-check";

export const WINDOW = 0x100000000000;
export const WINDOW_PAGES = 64;

const PROTS = ["---", "r--", "rw-", "r-x", "rwx", "-w-", "--x", "-wx"];
const ADVICES = [
  "normal", "random", "sequential", "willneed", "dontneed", "free", "remove", "dontfork", "dofork", "mergeable",
  "unmergeable", "hugepage", "nohugepage", "dontdump", "dodump", "wipeonfork", "keeponfork", "cold", "pageout",
  "populate_read", "populate_write", "collapse",
];

const hex = (n: number) => `0x${n.toString(16)}`;
const page = fc.integer({ min: 0, max: WINDOW_PAGES - 1 });
const pages = fc.integer({ min: 1, max: 16 });
/**
 * Values far outside the window: only for engine-vs-engine tests. On the
 * live kernel a range from the window to the top of the address space would
 * reach the harness's own stack and libraries (madvise dontneed there kills
 * it), and values above 2^53 are rounded by the engines' f64 boundary
 * (docs/scenario-format.md).
 */
const EXTREMES = [
  "0x10000000000000", "0x800000000000", "0x7ffffffff000", "0x7fffffffe000", "0xfffffffffffff",
  "0xffffffffffffffff", "0xfffffffffffff000", "0x8000000000000000", "0x20000000000001", "0x1fffffffffffff",
];

function generators(wild: boolean) {
  const extreme = fc.constantFrom(...EXTREMES);
  /** An address: usually a page of the window, sometimes unaligned, rarely absurd. */
  const tame = fc.tuple(page, fc.nat(19)).map(([p, r]) => hex(WINDOW + p * 4096 + (r === 0 ? 1 : 0)));
  const addr = wild ? fc.oneof({ weight: 60, arbitrary: tame }, { weight: 1, arbitrary: extreme }) : tame;
  /** A length: usually whole pages, sometimes 0 or a page and a bit, rarely absurd. */
  const tameLen = fc.tuple(pages, fc.nat(29)).map(([n, r]) => (r === 0 ? "0" : r === 1 ? `${n * 4096 + 100}` : `${n}p`));
  const len = wild ? fc.oneof({ weight: 60, arbitrary: tameLen }, { weight: 1, arbitrary: extreme }) : tameLen;
  return { addr, len };
}
const prot = fc.constantFrom(...PROTS);

function commands(addr: fc.Arbitrary<string>, len: fc.Arbitrary<string>) {
  const mmapCmd = fc
    .record({
      a: addr, l: len, p: prot,
      type: fc.constantFrom("private", "private", "private", "private", "shared", "private|shared"),
      backing: fc.constantFrom("anon", "anon", "anon", "anon", "file", "file", "zero"),
      place: fc.constantFrom("fixed", "fixed", "fixed", "fixed_noreplace", "fixed_noreplace", "hint"),
      extra: fc.subarray(["noreserve", "populate", "locked", "growsdown"], { maxLength: 2 }),
      extraOn: fc.nat(4),
      off: fc.integer({ min: 0, max: 8 }),
    })
    .map(({ a, l, p, type, backing, place, extra, extraOn, off }) => {
      const flags = [type, ...(backing === "anon" ? ["anon"] : []), ...(place === "hint" ? [] : [place]), ...(extraOn === 0 ? extra : [])];
      const file = backing === "file" ? ` f ${off}p` : backing === "zero" ? ` z ${off}p` : "";
      return `mmap ${a} ${l} ${p} ${flags.join("|")}${file}`;
    });

  const mremapCmd = fc
    .record({ a: addr, o: len, n: len, mode: fc.constantFrom("", " maymove", "fixed", "fixed", "dontunmap", "fixeddontunmap"), to: page })
    .map(({ a, o, n, mode, to }) => {
      const t = hex(WINDOW + to * 4096);
      const opt = mode === "fixed" ? ` fixed ${t}` : mode === "dontunmap" ? " maymove dontunmap" : mode === "fixeddontunmap" ? ` fixed ${t} dontunmap` : mode;
      return `mremap ${a} ${o} ${n}${opt}`;
    });

  const simpleCmd = fc.oneof(
    { weight: 6, arbitrary: mmapCmd },
    { weight: 2, arbitrary: fc.tuple(addr, len).map(([a, l]) => `munmap ${a} ${l}`) },
    { weight: 4, arbitrary: fc.tuple(addr, len, prot).map(([a, l, p]) => `mprotect ${a} ${l} ${p}`) },
    { weight: 4, arbitrary: fc.tuple(addr, len, fc.constantFrom(...ADVICES)).map(([a, l, v]) => `madvise ${a} ${l} ${v}`) },
    { weight: 3, arbitrary: mremapCmd },
    { weight: 1, arbitrary: fc.tuple(addr, len).map(([a, l]) => `mlock ${a} ${l}`) },
    { weight: 1, arbitrary: fc.tuple(addr, len).map(([a, l]) => `munlock ${a} ${l}`) },
    { weight: 1, arbitrary: fc.constantFrom("prctl memory_merge 1", "prctl memory_merge 0") },
    { weight: 3, arbitrary: fc.tuple(addr, len).map(([a, l]) => `write ${a} ${l}`) },
    { weight: 1, arbitrary: fc.tuple(addr, len).map(([a, l]) => `read ${a} ${l}`) },
    { weight: 1, arbitrary: fc.constant("vmflags") },
  );
  return simpleCmd;
}

type Step = { kind: "cmd"; text: string } | { kind: "fork" } | { kind: "switch"; to: number } | { kind: "exit" };

function steps(wild: boolean, exits: boolean): fc.Arbitrary<Step> {
  const { addr, len } = generators(wild);
  const base = [
    { weight: 30, arbitrary: commands(addr, len).map((text): Step => ({ kind: "cmd", text })) },
    { weight: 1, arbitrary: fc.constant<Step>({ kind: "fork" }) },
    { weight: 1, arbitrary: fc.nat(3).map((to): Step => ({ kind: "switch", to })) },
  ];
  // Without exits the arbitrary draws what it drew before exit existed, so earlier seeds give the same scenarios.
  return exits ? fc.oneof(...base, { weight: 3, arbitrary: fc.constant<Step>({ kind: "exit" }) }) : fc.oneof(...base);
}

/**
 * Assemble steps into a scenario: at most 3 forks; an exit (of any process
 * but main, which then becomes current) ends a process for good; every live
 * process's vmflags at the end.
 */
function assemble(steps: readonly Step[]): string {
  const out = ["file f 24p", "open z /dev/zero"];
  const procs = ["main"];
  const gone = new Set<string>();
  let current = "main";
  for (const s of steps) {
    if (s.kind === "cmd") out.push(s.text);
    else if (s.kind === "fork" && procs.length < 4) {
      const name = `p${procs.length}`;
      procs.push(name);
      out.push(`fork ${name}`);
      current = name;
    } else if (s.kind === "switch") {
      const to = procs[s.to % procs.length]!;
      if (gone.has(to)) continue;
      out.push(`process ${to}`);
      current = to;
    } else if (s.kind === "exit" && current !== "main") {
      gone.add(current);
      out.push("exit", "process main");
      current = "main";
    }
  }
  for (const p of procs) if (!gone.has(p)) out.push(`process ${p}`, "vmflags");
  return `${out.join("\n")}\n`;
}

/**
 * Random scenarios of min..max calls. With wild, absurd addresses and
 * lengths far outside the window appear too (engine-vs-engine tests only);
 * with exits, processes other than main exit now and then.
 */
export function randomScenario(min = 10, max = 40, wild = false, exits = false): fc.Arbitrary<string> {
  return fc.array(steps(wild, exits), { minLength: min, maxLength: max }).map(assemble);
}
