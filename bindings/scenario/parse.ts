/**
 * Scenario text → commands. Every malformed line raises a ScenarioError that
 * names the line; nothing here ever throws anything else.
 */
import { MADV, MAP_FLAG_NAMES, lookup } from "../kernel/facts.js";
import { KSM_KNOB_NAMES, type KsmKnobName } from "../kernel/kstrto.js";
import { type Command, ScenarioError, type WriteContent } from "./commands.js";

const U64_MAX = (1n << 64n) - 1n;
const UNITS: Readonly<Record<string, bigint>> = { K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n, p: 4096n };


/** Parses a number word: decimal or 0x hex, optional unit K M G p; optionally signed. */
export function parseNumber(word: string, lineNo: number, what: string, signed = false): bigint {
  const m = /^(-?)(0[xX][0-9a-fA-F]+|[0-9]+)([KMGp]?)$/.exec(word);
  if (!m || (m[1] === "-" && !signed)) throw new ScenarioError(lineNo, `bad number for ${what}: '${word}'`);
  let v = BigInt(m[2]!) * (m[3] ? UNITS[m[3]]! : 1n);
  if (v > U64_MAX) throw new ScenarioError(lineNo, `number for ${what} does not fit in 64 bits: '${word}'`);
  if (m[1] === "-") v = -v;
  return v;
}

/** Parses PROT as in /proc/PID/maps: three characters from r/w/x or '-'. */
export function parseProt(word: string, lineNo: number): number {
  const m = /^([r-])([w-])([x-])$/.exec(word);
  if (!m) throw new ScenarioError(lineNo, `bad PROT '${word}' (expected three characters like rw- or r-x)`);
  return (m[1] === "r" ? 1 : 0) | (m[2] === "w" ? 2 : 0) | (m[3] === "x" ? 4 : 0);
}

function parseMapFlags(word: string, lineNo: number): number {
  let flags = 0;
  for (const name of word.split("|")) {
    const bit = lookup(MAP_FLAG_NAMES, name);
    if (bit === undefined) throw new ScenarioError(lineNo, `unknown mmap flag '${name}'`);
    flags |= bit;
  }
  return flags;
}

function need(words: readonly string[], n: number, lineNo: number, usage: string): void {
  if (words.length < n) throw new ScenarioError(lineNo, `missing argument: usage '${usage}'`);
}

function noMore(words: readonly string[], n: number, lineNo: number, usage: string): void {
  if (words.length > n) throw new ScenarioError(lineNo, `unexpected argument '${words[n]}': usage '${usage}'`);
}

function parseContent(words: readonly string[], lineNo: number): WriteContent {
  const usage = "write ADDR LEN [N|unique|cycle K]";
  if (words.length === 3) return { kind: "value", value: 1n };
  if (words[3] === "unique") {
    noMore(words, 4, lineNo, usage);
    return { kind: "unique" };
  }
  if (words[3] === "cycle") {
    need(words, 5, lineNo, usage);
    noMore(words, 5, lineNo, usage);
    const k = parseNumber(words[4]!, lineNo, "cycle K");
    if (k === 0n) throw new ScenarioError(lineNo, "cycle K needs K >= 1");
    return { kind: "cycle", k };
  }
  noMore(words, 4, lineNo, usage);
  return { kind: "value", value: parseNumber(words[3]!, lineNo, "CONTENT") };
}

const NAME_RE = /^[A-Za-z0-9_.\-/]+$/;

function parseName(word: string, lineNo: number, what: string): string {
  if (!NAME_RE.test(word)) throw new ScenarioError(lineNo, `bad ${what} '${word}'`);
  return word;
}

/** Parses one line's words (already split, comment removed). */
function parseWords(words: readonly string[], line: number, files: Set<string>, processes: Set<string>): Command {
  const op = words[0]!;
  const num = (i: number, what: string) => parseNumber(words[i]!, line, what);
  switch (op) {
    case "mmap": {
      const usage = "mmap ADDR LEN PROT FLAGS [FILE [OFFSET]]";
      need(words, 5, line, usage);
      noMore(words, 7, line, usage);
      const file = words.length > 5 ? words[5]! : null;
      if (file !== null && !files.has(file)) throw new ScenarioError(line, `unknown file name '${file}' (make it first with 'file' or 'open')`);
      return {
        line, op, addr: num(1, "ADDR"), len: num(2, "LEN"), prot: parseProt(words[3]!, line),
        flags: parseMapFlags(words[4]!, line), file, offset: words.length > 6 ? num(6, "OFFSET") : 0n,
      };
    }
    case "munmap":
    case "mlock":
    case "munlock":
    case "read": {
      const usage = `${op} ADDR LEN`;
      need(words, 3, line, usage);
      noMore(words, 3, line, usage);
      return { line, op, addr: num(1, "ADDR"), len: num(2, "LEN") };
    }
    case "mprotect": {
      const usage = "mprotect ADDR LEN PROT";
      need(words, 4, line, usage);
      noMore(words, 4, line, usage);
      return { line, op, addr: num(1, "ADDR"), len: num(2, "LEN"), prot: parseProt(words[3]!, line) };
    }
    case "madvise": {
      const usage = "madvise ADDR LEN ADVICE";
      need(words, 4, line, usage);
      noMore(words, 4, line, usage);
      const advice = lookup(MADV, words[3]!);
      if (advice === undefined) throw new ScenarioError(line, `unknown madvise advice '${words[3]}'`);
      return { line, op, addr: num(1, "ADDR"), len: num(2, "LEN"), advice, adviceName: words[3]! };
    }
    case "mremap": {
      const usage = "mremap ADDR OLDLEN NEWLEN [maymove] [fixed NEWADDR] [dontunmap]";
      need(words, 4, line, usage);
      let flags = 0;
      let newAddr = 0n;
      for (let i = 4; i < words.length; i++) {
        const w = words[i];
        if (w === "maymove") flags |= 1;
        else if (w === "dontunmap") flags |= 4;
        else if (w === "fixed") {
          need(words, i + 2, line, usage);
          flags |= 1 | 2;
          newAddr = num(++i, "NEWADDR");
        } else throw new ScenarioError(line, `unexpected mremap argument '${w}': usage '${usage}'`);
      }
      return { line, op, addr: num(1, "ADDR"), oldLen: num(2, "OLDLEN"), newLen: num(3, "NEWLEN"), flags, newAddr };
    }
    case "prctl": {
      const usage = "prctl memory_merge 0|1";
      need(words, 3, line, usage);
      noMore(words, 3, line, usage);
      if (words[1] !== "memory_merge") throw new ScenarioError(line, `unknown prctl option '${words[1]}' (only memory_merge)`);
      return { line, op, option: "memory_merge", value: num(2, "value") };
    }
    case "file": {
      const usage = "file NAME SIZE";
      need(words, 3, line, usage);
      noMore(words, 3, line, usage);
      const name = parseName(words[1]!, line, "file name");
      if (files.has(name)) throw new ScenarioError(line, `file name '${name}' is already in use`);
      files.add(name);
      return { line, op, name, size: num(2, "SIZE") };
    }
    case "open": {
      const usage = "open NAME PATH";
      need(words, 3, line, usage);
      noMore(words, 3, line, usage);
      const name = parseName(words[1]!, line, "file name");
      if (files.has(name)) throw new ScenarioError(line, `file name '${name}' is already in use`);
      const path = words[2]!;
      if (!SUPPORTED_OPEN_PATHS.includes(path)) throw new ScenarioError(line, `cannot open '${path}': the simulator knows only ${SUPPORTED_OPEN_PATHS.join(", ")}`);
      files.add(name);
      return { line, op, name, path };
    }
    case "write": {
      need(words, 3, line, "write ADDR LEN [N|unique|cycle K]");
      return { line, op, addr: num(1, "ADDR"), len: num(2, "LEN"), content: parseContent(words, line) };
    }
    case "process":
    case "fork": {
      const usage = `${op} NAME`;
      need(words, 2, line, usage);
      noMore(words, 2, line, usage);
      const name = parseName(words[1]!, line, "process name");
      if (op === "fork" && processes.has(name)) throw new ScenarioError(line, `process name '${name}' is already in use (fork makes a new process)`);
      processes.add(name);
      return { line, op, name };
    }
    case "ksm": {
      const usage = "ksm KEY=VALUE...";
      need(words, 2, line, usage);
      const settings: (readonly [KsmKnobName, string])[] = [];
      for (const w of words.slice(1)) {
        const eq = w.indexOf("=");
        if (eq <= 0) throw new ScenarioError(line, `expected KEY=VALUE, got '${w}'`);
        const key = w.slice(0, eq);
        if (!(KSM_KNOB_NAMES as readonly string[]).includes(key)) throw new ScenarioError(line, `unknown ksm knob '${key}'`);
        // The value is written as it stands; the kernel's parser decides (e.g. -1 or 0x10 is EINVAL).
        const value = w.slice(eq + 1);
        if (!/^[A-Za-z0-9+_.-]{1,40}$/.test(value)) throw new ScenarioError(line, `bad value for ${key}: '${value}'`);
        settings.push([key as KsmKnobName, value]);
      }
      return { line, op, settings };
    }
    case "ksm_get": {
      need(words, 2, line, "ksm_get KEY...");
      const keys = words.slice(1).map((key) => {
        if (!(KSM_KNOB_NAMES as readonly string[]).includes(key)) throw new ScenarioError(line, `unknown ksm knob '${key}'`);
        return key as KsmKnobName;
      });
      return { line, op, keys };
    }
    case "ksm_scan":
    case "ksm_run":
    case "max_map_count": {
      const usage = op === "ksm_run" ? "ksm_run MS" : `${op} N`;
      need(words, 2, line, usage);
      noMore(words, 2, line, usage);
      if (op === "ksm_scan") return { line, op, n: num(1, "N") };
      if (op === "ksm_run") return { line, op, ms: num(1, "MS") };
      return { line, op, value: num(1, "N") };
    }
    case "maps":
    case "vmflags":
    case "count":
    case "ksm_stat":
    case "exit":
      noMore(words, 1, line, op);
      return { line, op };
    case "echo":
      return { line, op, text: words.slice(1).join(" ") };
    default:
      throw new ScenarioError(line, `unknown command '${op}'`);
  }
}

/**
 * The reason a scenario cannot be compared with a live kernel, from a
 * `# sim-only: REASON` line (e.g. its report depends on ksmd's real CPU
 * time), or null. Its .expected is the simulator's report, and the live and
 * booted-kernel checks skip it.
 */
export function simOnlyReason(text: string): string | null {
  const m = /^#[ \t]*sim-only:[ \t]*(\S.*)$/m.exec(text);
  return m === null ? null : m[1]!.trim();
}

/** Device and file paths that `open` accepts (the simulator must model each). */
export const SUPPORTED_OPEN_PATHS: readonly string[] = ["/dev/zero"];

interface ProcessState {
  current: string;
  readonly exited: Set<string>;
}

/** The commands that need no current process (the machine's files, KSM knobs and ksmd, words, switching). */
const MACHINE_OPS: ReadonlySet<string> = new Set(["file", "open", "ksm", "ksm_get", "ksm_scan", "ksm_run", "echo", "process"]);

/**
 * After `exit` the scenario must switch with `process` to another live
 * process: a command acting on the exited current process, or a `process`
 * naming an exited one (names are never reused), is malformed.
 */
function checkLiveProcess(c: Command, state: ProcessState): void {
  if (c.op === "process") {
    if (state.exited.has(c.name)) throw new ScenarioError(c.line, `process '${c.name}' has exited (a process name cannot be reused)`);
    state.current = c.name;
    return;
  }
  if (MACHINE_OPS.has(c.op)) return;
  if (state.exited.has(state.current)) {
    throw new ScenarioError(c.line, `'${c.op}' acts on process '${state.current}', which has exited (switch with 'process NAME' first)`);
  }
  if (c.op === "fork") state.current = c.name;
  else if (c.op === "exit") state.exited.add(state.current);
}

/** Parses a whole scenario. Throws ScenarioError (with the line) on the first malformed line. */
export function parseScenario(text: string): Command[] {
  const commands: Command[] = [];
  const files = new Set<string>();
  const processes = new Set<string>(["main"]);
  const state: ProcessState = { current: "main", exited: new Set() };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf("#");
    const body = hash >= 0 ? raw.slice(0, hash) : raw;
    const words = body.split(/[ \t]+/).filter((w) => w.length > 0);
    if (words.length === 0) continue;
    const c = parseWords(words, i + 1, files, processes);
    checkLiveProcess(c, state);
    commands.push(c);
  }
  return commands;
}
