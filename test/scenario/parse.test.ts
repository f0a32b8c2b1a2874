/**
 * The scenario parser (bindings/scenario/parse.ts) against the scenario
 * format (docs/scenario-format.md): numbers, PROT, flags, every
 * command's arity, comments, errors that name their line; and a property:
 * no text makes either engine throw anything but a ScenarioError, and both
 * engines give the same report or the same error for it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Command, ScenarioError } from "../../bindings/scenario/commands.js";
import { parseNumber, parseProt, parseScenario, simOnlyReason } from "../../bindings/scenario/parse.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";

/** The ScenarioError that parsing text raises. */
function parseError(text: string): ScenarioError {
  try {
    parseScenario(text);
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw new Error(`expected a ScenarioError for ${JSON.stringify(text)}, got ${String(e)}`);
  }
  throw new Error(`expected a ScenarioError for ${JSON.stringify(text)}, but it parsed`);
}

/** Asserts that `line`, placed at line 3 after a comment and a blank line, is refused naming line 3. */
function refusedAtLine3(line: string, message?: RegExp): void {
  const e = parseError(`# a comment\n\n${line}\nmaps\n`);
  expect(e.lineNo, line).toBe(3);
  expect(e.message, line).toContain("line 3");
  if (message) expect(e.message, line).toMatch(message);
}

function one(line: string): Command {
  const cs = parseScenario(line);
  expect(cs).toHaveLength(1);
  return cs[0]!;
}

describe("numbers", () => {
  it("decimal and 0x hexadecimal", () => {
    expect(parseNumber("0", 1, "N")).toBe(0n);
    expect(parseNumber("4096", 1, "N")).toBe(4096n);
    expect(parseNumber("0x1000", 1, "N")).toBe(4096n);
    expect(parseNumber("0X1f", 1, "N")).toBe(31n);
    expect(parseNumber("0xABCdef", 1, "N")).toBe(0xabcdefn);
    expect(parseNumber("007", 1, "N")).toBe(7n);
  });

  it("units K, M, G and p (pages of 4 KiB): 16p = 64K = 0x10000", () => {
    expect(parseNumber("16p", 1, "N")).toBe(0x10000n);
    expect(parseNumber("64K", 1, "N")).toBe(0x10000n);
    expect(parseNumber("1M", 1, "N")).toBe(1n << 20n);
    expect(parseNumber("3G", 1, "N")).toBe(3n << 30n);
    expect(parseNumber("0x10p", 1, "N")).toBe(16n * 4096n);
  });

  it("the largest 64-bit value is accepted, anything above 2^64 - 1 refused (also through units)", () => {
    expect(parseNumber("18446744073709551615", 1, "N")).toBe((1n << 64n) - 1n);
    expect(parseNumber("0xffffffffffffffff", 1, "N")).toBe((1n << 64n) - 1n);
    expect(parseNumber("17179869183G", 1, "N")).toBe(17179869183n << 30n);
    for (const w of ["18446744073709551616", "0x10000000000000000", "17179869184G", "4503599627370496p", "99999999999999999999999"]) {
      expect(() => parseNumber(w, 5, "LEN"), w).toThrow(ScenarioError);
    }
    const e = parseError("mmap 0x100000000000 18446744073709551616 rw- private|anon");
    expect(e.lineNo).toBe(1);
  });

  it("malformed numbers are refused with the word in the message", () => {
    for (const w of ["", "x", "0x", "1.5", "1e3", "1k", "1KB", "1P", "+1", "0x1g", "1 ", "١٢", "0b101", "1_000"]) {
      const f = () => parseNumber(w, 7, "ADDR");
      expect(f, JSON.stringify(w)).toThrow(ScenarioError);
    }
    try {
      parseNumber("12z", 7, "ADDR");
    } catch (e) {
      expect((e as ScenarioError).lineNo).toBe(7);
      expect((e as Error).message).toContain("'12z'");
      expect((e as Error).message).toContain("line 7");
    }
  });

  it("negative numbers only where signed (ksm values)", () => {
    expect(() => parseNumber("-1", 1, "N")).toThrow(ScenarioError);
    expect(parseNumber("-1", 1, "N", true)).toBe(-1n);
    expect(parseNumber("-0x10", 1, "N", true)).toBe(-16n);
    refusedAtLine3("mmap -1 1p rw- private|anon");
    refusedAtLine3("munmap 0x100000000000 -4096");
    refusedAtLine3("max_map_count -1");
    refusedAtLine3("prctl memory_merge -1");
    // ksm values are written as they stand: the kernel's parser decides (-1 is EINVAL there).
    const c = one("ksm run=-1 pages_to_scan=100");
    expect(c).toMatchObject({ op: "ksm", settings: [["run", "-1"], ["pages_to_scan", "100"]] });
  });
});

describe("PROT and FLAGS", () => {
  it("PROT is three characters from r/w/x or '-'", () => {
    expect(parseProt("rw-", 1)).toBe(3);
    expect(parseProt("r-x", 1)).toBe(5);
    expect(parseProt("---", 1)).toBe(0);
    expect(parseProt("rwx", 1)).toBe(7);
    expect(parseProt("-w-", 1)).toBe(2);
    for (const w of ["wr-", "rw", "rwxx", "RW-", "r w", "rwp", "", "xrw"]) {
      expect(() => parseProt(w, 4), w).toThrow(ScenarioError);
    }
    refusedAtLine3("mprotect 0x100000000000 1p rw", /PROT/);
  });

  it("FLAGS are |-separated names; anon is an alias of anonymous", () => {
    expect(one("mmap 0x100000000000 1p rw- private|anon|fixed")).toMatchObject({ flags: 0x32, prot: 3, file: null, offset: 0n });
    expect(one("mmap 0 1p r-- shared|anonymous|fixed_noreplace")).toMatchObject({ flags: 0x100021 });
    expect(one("mmap 0 1p r-- private|anon|growsdown|noreserve|populate|locked")).toMatchObject({ flags: 0x2 | 0x20 | 0x100 | 0x4000 | 0x8000 | 0x2000 });
  });

  it("unknown flag names, empty names and spaces inside FLAGS are refused", () => {
    refusedAtLine3("mmap 0 1p rw- private|anno", /'anno'/);
    refusedAtLine3("mmap 0 1p rw- private||anon");
    refusedAtLine3("mmap 0 1p rw- PRIVATE|anon");
    refusedAtLine3("mmap 0 1p rw- private|anon|");
  });

  it("flag names inherited from Object.prototype are unknown flags", () => {
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      refusedAtLine3(`mmap 0 1p rw- private|anon|${name}`, new RegExp(`'${name}'`));
    }
  });

  it("madvise advice names; unknown ones are refused, including Object.prototype names", () => {
    expect(one("madvise 0 1p dontfork")).toMatchObject({ op: "madvise", advice: 10, adviceName: "dontfork" });
    expect(one("madvise 0 1p collapse")).toMatchObject({ advice: 25 });
    refusedAtLine3("madvise 0 1p DONTFORK", /advice/);
    refusedAtLine3("madvise 0 1p guard_install", /advice/);
    for (const name of ["toString", "constructor", "valueOf", "__proto__"]) refusedAtLine3(`madvise 0 1p ${name}`, /advice/);
  });
});

describe("commands", () => {
  it("parses each command into its fields", () => {
    const text = [
      "file f 64K",
      "open z /dev/zero",
      "mmap 0x100000000000 8K rw- shared|fixed f 4K",
      "mmap 0x100000002000 1p r-- private|fixed z",
      "munmap 0x100000000000 1p",
      "mprotect 0x100000000000 2p r-x",
      "madvise 0x100000000000 2p hugepage",
      "mremap 0x100000000000 1p 2p maymove",
      "mremap 0x100000000000 1p 1p fixed 0x100000010000 dontunmap",
      "mlock 0x100000000000 1p",
      "munlock 0x100000000000 1p",
      "prctl memory_merge 1",
      "write 0x100000000000 1p",
      "write 0x100000000000 1p 0",
      "write 0x100000000000 1p unique",
      "write 0x100000000000 1p cycle 3",
      "read 0x100000000000 1p",
      "process other",
      "fork kid",
      "ksm run=1",
      "ksm_scan 2",
      "max_map_count 100",
      "maps",
      "vmflags",
      "count",
      "ksm_stat",
      "echo hello   world",
    ].join("\n");
    const cs = parseScenario(text);
    expect(cs.map((c) => c.line)).toEqual([...Array(27).keys()].map((i) => i + 1));
    expect(cs.map((c) => c.op)).toEqual([
      "file", "open", "mmap", "mmap", "munmap", "mprotect", "madvise", "mremap", "mremap", "mlock", "munlock", "prctl", "write",
      "write", "write", "write", "read", "process", "fork", "ksm", "ksm_scan", "max_map_count", "maps", "vmflags", "count",
      "ksm_stat", "echo",
    ]);
    expect(cs[0]).toMatchObject({ name: "f", size: 65536n });
    expect(cs[1]).toMatchObject({ name: "z", path: "/dev/zero" });
    expect(cs[2]).toMatchObject({ addr: 0x100000000000n, len: 8192n, prot: 3, flags: 0x11, file: "f", offset: 4096n });
    expect(cs[3]).toMatchObject({ file: "z", offset: 0n });
    expect(cs[7]).toMatchObject({ oldLen: 4096n, newLen: 8192n, flags: 1, newAddr: 0n });
    expect(cs[8]).toMatchObject({ flags: 1 | 2 | 4, newAddr: 0x100000010000n });
    expect(cs[11]).toMatchObject({ option: "memory_merge", value: 1n });
    expect(cs[12]).toMatchObject({ content: { kind: "value", value: 1n } });
    expect(cs[13]).toMatchObject({ content: { kind: "value", value: 0n } });
    expect(cs[14]).toMatchObject({ content: { kind: "unique" } });
    expect(cs[15]).toMatchObject({ content: { kind: "cycle", k: 3n } });
    expect(cs[20]).toMatchObject({ n: 2n });
    expect(cs[21]).toMatchObject({ value: 100n });
    expect(cs[26]).toMatchObject({ text: "hello world" });
  });

  it("fixed implies maymove in mremap", () => {
    expect(one("mremap 0 1p 1p fixed 0x2000")).toMatchObject({ flags: 3, newAddr: 0x2000n });
    expect(one("mremap 0 1p 1p dontunmap")).toMatchObject({ flags: 4 });
  });

  it("comments, blank lines, tabs and CRLF", () => {
    const cs = parseScenario("# header\n\n   \t  \n\tmaps\t# trailing comment\r\ncount\r\n#\n  echo a#b c\n");
    expect(cs.map((c) => [c.line, c.op])).toEqual([[4, "maps"], [5, "count"], [7, "echo"]]);
    expect(cs[2]).toMatchObject({ text: "a" });
    expect(parseScenario("")).toEqual([]);
    expect(parseScenario("# only a comment")).toEqual([]);
  });

  it("an unknown command names itself and its line", () => {
    refusedAtLine3("mmapp 0 1p rw- private|anon", /unknown command 'mmapp'/);
    refusedAtLine3("MAPS", /unknown command/);
    refusedAtLine3("mm#ap 0 1p", /unknown command 'mm'/);
  });

  it("an error quoting binary input escapes its control characters and stays short", () => {
    refusedAtLine3("\u0001\u001b[2J\ufffdx", /unknown command '\\x01\\x1b\[2J\\ufffdx'/);
    const e = parseError(`mmap 0x100000000000 ${"9".repeat(5000)} rw- private|anon`);
    expect(e.lineNo).toBe(1);
    expect(e.message.length).toBeLessThan(260);
    expect(e.message.endsWith("…")).toBe(true);
  });

  it("mmap of an unknown file name, or one made later, is refused", () => {
    refusedAtLine3("mmap 0 1p rw- private g", /'g'/);
    const e = parseError("mmap 0 1p rw- private f\nfile f 4K");
    expect(e.lineNo).toBe(1);
    expect(parseScenario("file f 4K\nmmap 0 1p rw- private f")).toHaveLength(2);
  });

  it("file and open refuse a name in use, bad names, and paths the simulator does not model", () => {
    const dup0 = parseError("file f 4K\n# x\nfile f 8K");
    expect([dup0.lineNo, dup0.message.includes("line 3"), dup0.message.includes("'f'")]).toEqual([3, true, true]);
    const dup = parseError("file f 4K\nopen f /dev/zero");
    expect(dup.lineNo).toBe(2);
    expect(dup.message).toContain("line 2");
    const dup2 = parseError("open z /dev/zero\n\nfile z 4K");
    expect(dup2.lineNo).toBe(3);
    refusedAtLine3("open z /dev/null", /\/dev\/null/);
    refusedAtLine3("file f$ 4K");
    refusedAtLine3("process a:b");
  });

  it("write content forms and their errors", () => {
    refusedAtLine3("write 0 1p cycle 0", /K >= 1/);
    refusedAtLine3("write 0 1p cycle");
    refusedAtLine3("write 0 1p cycle 2 3");
    refusedAtLine3("write 0 1p unique 3");
    refusedAtLine3("write 0 1p 5 6");
    refusedAtLine3("write 0 1p many");
  });

  it("ksm settings: KEY=VALUE with known keys", () => {
    refusedAtLine3("ksm run", /KEY=VALUE/);
    refusedAtLine3("ksm =1");
    refusedAtLine3("ksm speed=1", /'speed'/);
    refusedAtLine3("ksm run=1/2", /bad value/);
    refusedAtLine3("ksm run=", /bad value/);
    refusedAtLine3("ksm toString=1");
    expect(one("ksm run=1 sleep_millisecs=0")).toMatchObject({ settings: [["run", "1"], ["sleep_millisecs", "0"]] });
    expect(one("ksm advisor_mode=scan-time")).toMatchObject({ settings: [["advisor_mode", "scan-time"]] });
  });

  it("ksm_get: one or more known knob names", () => {
    refusedAtLine3("ksm_get", /ksm_get KEY/);
    refusedAtLine3("ksm_get pages_to_scan speed", /'speed'/);
    refusedAtLine3("ksm_get run=1", /'run=1'/);
    refusedAtLine3("ksm_get full_scans", /'full_scans'/);
    expect(one("ksm_get pages_to_scan advisor_mode")).toMatchObject({ op: "ksm_get", keys: ["pages_to_scan", "advisor_mode"] });
  });

  it("simOnlyReason reads a '# sim-only: REASON' line anywhere, else null", () => {
    expect(simOnlyReason("# sim-only: needs real CPU time\nmaps\n")).toBe("needs real CPU time");
    expect(simOnlyReason("maps\n#sim-only:x y \n")).toBe("x y");
    expect(simOnlyReason("maps # sim-only: not at the line start\n# sim-only:\n")).toBeNull();
    expect(simOnlyReason("# a sim-only: remark\n")).toBeNull();
  });

  it("prctl knows only memory_merge", () => {
    refusedAtLine3("prctl memory 1", /memory_merge/);
  });
});

describe("arity: every command refuses missing and extra arguments, naming the line", () => {
  const cases: [string, string[], string[]][] = [
    ["mmap", ["mmap 0 1p rw-", "mmap", "mmap 0"], ["mmap 0 1p rw- private f 0 extra"]],
    ["munmap", ["munmap", "munmap 0"], ["munmap 0 1p 2"]],
    ["mprotect", ["mprotect 0 1p"], ["mprotect 0 1p rw- x"]],
    ["madvise", ["madvise 0 1p"], ["madvise 0 1p normal x"]],
    ["mremap", ["mremap 0 1p", "mremap 0 1p 1p fixed"], ["mremap 0 1p 1p sideways"]],
    ["mlock", ["mlock 0"], ["mlock 0 1p 1p"]],
    ["munlock", ["munlock 0"], ["munlock 0 1p 1p"]],
    ["prctl", ["prctl memory_merge"], ["prctl memory_merge 1 2"]],
    ["file", ["file f"], ["file f 4K 8K"]],
    ["open", ["open z"], ["open z /dev/zero x"]],
    ["write", ["write 0"], ["write 0 1p 1 2"]],
    ["read", ["read 0"], ["read 0 1p 1"]],
    ["process", ["process"], ["process a b"]],
    ["fork", ["fork"], ["fork a b"]],
    ["ksm", ["ksm"], []],
    ["ksm_scan", ["ksm_scan"], ["ksm_scan 1 2"]],
    ["max_map_count", ["max_map_count"], ["max_map_count 1 2"]],
    ["maps", [], ["maps all"]],
    ["vmflags", [], ["vmflags x"]],
    ["count", [], ["count 1"]],
    ["ksm_stat", [], ["ksm_stat x"]],
  ];
  for (const [cmd, missing, extra] of cases) {
    it(cmd, () => {
      for (const l of missing) refusedAtLine3(l, /missing argument|usage/);
      for (const l of extra) refusedAtLine3(l, /unexpected|usage/);
    });
  }

  it("echo takes any number of words", () => {
    expect(one("echo")).toMatchObject({ op: "echo", text: "" });
    expect(one("echo a b c")).toMatchObject({ text: "a b c" });
  });

  it("the first malformed line is reported, not a later one", () => {
    const e = parseError("maps\nbogus\nmmap 0");
    expect(e.lineNo).toBe(2);
  });
});

// VMASIM_FUZZ_RUNS: runs per property below (default 1000; the browser project has no process.env).
const FUZZ_RUNS = Number((typeof process === "undefined" ? undefined : process.env.VMASIM_FUZZ_RUNS) ?? 1000);

describe("property: neither engine crashes on any text, and both end the same way", () => {
  /** Runs text on one engine: its report, or the ScenarioError naming the line; anything else is a failure. */
  function outcome(text: string, engine: "ts" | "wasm"): string {
    try {
      const out = runScenarioLines(text, { engine });
      if (!Array.isArray(out) || !out.every((l) => typeof l === "string")) throw new Error("not a report");
      return out.join("\n");
    } catch (e) {
      if (e instanceof ScenarioError && Number.isInteger(e.lineNo) && e.lineNo >= 0) return `ScenarioError at line ${e.lineNo}: ${e.message}`;
      throw new Error(`${engine} engine: ${String(e)} for ${JSON.stringify(text)}`);
    }
  }

  /** Both engines survive text with the same report or the same error. */
  function survives(text: string): boolean {
    const ts = outcome(text, "ts");
    const wasm = outcome(text, "wasm");
    if (ts !== wasm) throw new Error(`the engines differ for ${JSON.stringify(text)}:\n${ts}\n--- wasm:\n${wasm}`);
    return true;
  }

  /**
   * write_pages() steps through every page (a 16 TiB write takes minutes; reported
   * separately): texts that write more than 4 GiB at once stay out of the properties.
   */
  function hugeWrite(text: string): boolean {
    try {
      return parseScenario(text).some((c) => c.op === "write" && c.len > 1n << 32n);
    } catch {
      return false;
    }
  }

  function prop(text: string): boolean {
    fc.pre(!hugeWrite(text));
    return survives(text);
  }

  const COMMANDS = [
    "mmap", "munmap", "mprotect", "madvise", "mremap", "mlock", "munlock", "prctl", "file", "open", "write", "read",
    "process", "fork", "ksm", "ksm_get", "ksm_scan", "ksm_run", "max_map_count", "maps", "vmflags", "count", "ksm_stat",
    "exit", "echo",
  ];
  const ODD = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf", "main", "f", "z", "#", "-1", "0", "", "|"];
  const number = fc.oneof(
    fc.stringMatching(/^(0x1[0-9a-f]{11}|0x[0-9a-f]{1,4}|[0-9]{1,4}|1[0-9]{0,2}[KMp]|0xffffffffffffffff|18446744073709551616|-[0-9])$/),
    fc.constantFrom("0x100000000000", "0x100000001000", "0x100000008000", "4096", "8K", "1p", "16p", "0", "1", "0x1001"),
  );
  const prot = fc.oneof(fc.constantFrom("rw-", "r--", "---", "rwx", "r-x", "-w-"), fc.stringMatching(/^[rwx-]{2,4}$/));
  const flags = fc.oneof(
    fc.constantFrom("private|anon|fixed", "shared|anon|fixed", "private|fixed", "private|anon", "private|shared|anon|fixed",
      "private|anon|fixed_noreplace", "private|anon|fixed|populate", "private|anon|fixed|locked|noreserve", "shared|fixed"),
    fc.array(fc.constantFrom("private", "shared", "anon", "anonymous", "fixed", "fixed_noreplace", "growsdown", "noreserve",
      "populate", "locked", ...ODD), { minLength: 1, maxLength: 4 }).map((ws) => ws.join("|")),
  );
  const word = fc.oneof(
    { weight: 4, arbitrary: number },
    { weight: 1, arbitrary: prot },
    { weight: 1, arbitrary: flags },
    { weight: 1, arbitrary: fc.constantFrom(...ODD, "maymove", "dontunmap", "fixed", "unique", "cycle", "memory_merge",
      "/dev/zero", "run=1", "dontneed", "mergeable", "wipeonfork", "populate_write", "dontfork") },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom("run", "pages_to_scan", "sleep_millisecs", "max_page_sharing", "use_zero_pages",
      "smart_scan", "merge_across_nodes", "advisor_mode", "advisor_target_scan_time", "stable_node_chains_prune_millisecs", "bogus"),
    fc.oneof(number, fc.constantFrom("scan-time", "none", "2", "-1", ""))).map(([k, v]) => `${k}=${v}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  );
  const plausibleLine = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...COMMANDS), fc.array(word, { maxLength: 7 })).map(([c, ws]) => [c, ...ws].join(" ")) },
    { weight: 3, arbitrary: fc.tuple(number, number, prot, flags).map(([a, l, p, f]) => `mmap ${a} ${l} ${p} ${f}`) },
    { weight: 1, arbitrary: fc.tuple(number, number, fc.constantFrom("f", "z")).map(([a, l, f]) => `mmap ${a} ${l} rw- private|fixed ${f} 0`) },
    { weight: 1, arbitrary: fc.constantFrom("file f 64K", "open z /dev/zero", "fork child", "fork main", "process main",
      "process other", "prctl memory_merge 1", "max_map_count 3", "maps", "vmflags", "count", "echo x", "exit", "ksm run=1",
      "ksm_scan 2", "ksm_run 50", "ksm_stat", "ksm_get pages_shared full_scans", "madvise 0x100000000000 16p mergeable") },
    { weight: 1, arbitrary: fc.stringMatching(/^(mmap|munmap|mprotect|madvise|mremap|write|read|mlock) (0x10000000[0-9a-f]{4}|[0-9]{1,3}p)( [0-9]{1,2}p)?( [a-z_|-]{1,12}){0,3}$/) },
  );

  it("arbitrary strings", () => {
    fc.assert(fc.property(fc.string({ maxLength: 120 }), prop), { numRuns: FUZZ_RUNS });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 60 }), prop), { numRuns: Math.ceil(FUZZ_RUNS * 0.3) });
  });

  it("plausible lines", () => {
    fc.assert(fc.property(fc.array(plausibleLine, { maxLength: 12 }), (lines) => prop(lines.join("\n"))), { numRuns: FUZZ_RUNS });
  });

  const VALID = [
    "# a valid scenario",
    "file f 64K",
    "open z /dev/zero",
    "prctl memory_merge 1",
    "mmap 0x100000000000 8p rw- private|anon|fixed",
    "mmap 0x100000008000 8p rw- private|anon|fixed",
    "write 0x100000000000 2p unique",
    "mprotect 0x100000002000 2p r--",
    "madvise 0x100000004000 2p dontfork",
    "mremap 0x100000004000 2p 2p fixed 0x100000020000",
    "mmap 0x100000030000 4p rw- shared|fixed f 4K",
    "mmap 0x100000040000 4p rw- private|fixed z",
    "mlock 0x100000000000 1p",
    "fork child",
    "write 0x100000000000 1p",
    "munmap 0x100000008000 1p",
    "process main",
    "max_map_count 10",
    "vmflags",
    "count",
    "echo done",
  ].join("\n");

  it("the valid scenario runs", () => {
    const out = runScenarioLines(VALID);
    expect(out.at(-1)).toBe("done");
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), s: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom(" ", "\n", "#", "|", "-", "0", "x", "p", "K", "\t")) }),
    fc.record({ kind: fc.constant("word" as const), at: fc.nat(), s: fc.oneof(word, fc.constantFrom(...ODD)) }),
    fc.record({ kind: fc.constant("line" as const), at: fc.nat(), to: fc.nat() }),
  );

  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

  function mutate(text: string, ms: readonly Mutation[]): string {
    let t = text;
    for (const m of ms) {
      if (m.kind === "delete") {
        const i = m.at % (t.length + 1);
        t = t.slice(0, i) + t.slice(i + m.n);
      } else if (m.kind === "insert") {
        const i = m.at % (t.length + 1);
        t = t.slice(0, i) + m.s + t.slice(i);
      } else if (m.kind === "word") {
        const words = t.split(/( |\n)/);
        const i = m.at % words.length;
        if (words[i] !== " " && words[i] !== "\n") words[i] = m.s;
        t = words.join("");
      } else {
        const lines = t.split("\n");
        const line = lines[m.at % lines.length]!;
        lines.splice(m.to % (lines.length + 1), 0, line);
        t = lines.join("\n");
      }
    }
    return t;
  }

  it("mutations of a valid scenario", () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (ms) => prop(mutate(VALID, ms))), { numRuns: FUZZ_RUNS });
  });

  it("known crashers stay fixed: fork to a name in use, madvise with an Object.prototype name", () => {
    expect(survives("fork main")).toBe(true);
    expect(survives("fork a\nprocess main\nfork a")).toBe(true);
    expect(survives("mmap 0x100000000000 1p rw- private|anon|fixed\nmadvise 0x100000000000 1p toString")).toBe(true);
  });
});
