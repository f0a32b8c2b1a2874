import type { KsmKnobName } from "../kernel/kstrto.js";

/**
 * The parsed form of a scenario line (docs/scenario-format.md). Numbers that
 * reach a syscall are kept as bigint so that values up to 2^64 - 1 survive
 * parsing exactly; every backend converts them at its own boundary.
 */

export type WriteContent =
  | { readonly kind: "value"; readonly value: bigint }
  | { readonly kind: "unique" }
  | { readonly kind: "cycle"; readonly k: bigint };

export type Command =
  | { readonly line: number; readonly op: "mmap"; readonly addr: bigint; readonly len: bigint; readonly prot: number; readonly flags: number; readonly file: string | null; readonly offset: bigint }
  | { readonly line: number; readonly op: "munmap"; readonly addr: bigint; readonly len: bigint }
  | { readonly line: number; readonly op: "mprotect"; readonly addr: bigint; readonly len: bigint; readonly prot: number }
  | { readonly line: number; readonly op: "madvise"; readonly addr: bigint; readonly len: bigint; readonly advice: number; readonly adviceName: string }
  | { readonly line: number; readonly op: "mremap"; readonly addr: bigint; readonly oldLen: bigint; readonly newLen: bigint; readonly flags: number; readonly newAddr: bigint }
  | { readonly line: number; readonly op: "mlock" | "munlock"; readonly addr: bigint; readonly len: bigint }
  | { readonly line: number; readonly op: "prctl"; readonly option: "memory_merge"; readonly value: bigint }
  | { readonly line: number; readonly op: "file"; readonly name: string; readonly size: bigint }
  | { readonly line: number; readonly op: "open"; readonly name: string; readonly path: string }
  | { readonly line: number; readonly op: "write"; readonly addr: bigint; readonly len: bigint; readonly content: WriteContent }
  | { readonly line: number; readonly op: "read"; readonly addr: bigint; readonly len: bigint }
  | { readonly line: number; readonly op: "process" | "fork"; readonly name: string }
  | { readonly line: number; readonly op: "ksm"; readonly settings: ReadonlyArray<readonly [KsmKnobName, string]> }
  | { readonly line: number; readonly op: "ksm_get"; readonly keys: readonly KsmKnobName[] }
  | { readonly line: number; readonly op: "ksm_scan"; readonly n: bigint }
  | { readonly line: number; readonly op: "ksm_run"; readonly ms: bigint }
  | { readonly line: number; readonly op: "max_map_count"; readonly value: bigint }
  | { readonly line: number; readonly op: "maps" | "vmflags" | "count" | "ksm_stat" | "exit" }
  | { readonly line: number; readonly op: "echo"; readonly text: string };

export type CommandOp = Command["op"];

/** The command word as written in a scenario (for `! LINE COMMAND ERRNO`). */
export function commandWord(c: Command): string {
  return c.op === "prctl" ? "prctl" : c.op;
}

/** Longest detail a ScenarioError quotes (a binary file's "line" can be kilobytes). */
const MAX_DETAIL = 200;

/**
 * An error message fit for a terminal: control characters and undecodable
 * bytes (U+FFFD) of the quoted input escaped, and cut at MAX_DETAIL.
 */
function printable(detail: string): string {
  let out = "";
  for (const c of detail) {
    if (out.length >= MAX_DETAIL) return `${out}…`;
    const code = c.codePointAt(0)!;
    if (c === "\ufffd") out += "\\ufffd";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += c;
  }
  return out;
}

/** A malformed scenario: the runner stops and the CLI exits with code 2. */
export class ScenarioError extends Error {
  readonly detail: string;
  constructor(
    readonly lineNo: number,
    detail: string,
  ) {
    const d = printable(detail);
    super(lineNo > 0 ? `line ${lineNo}: ${d}` : d);
    this.detail = d;
    this.name = "ScenarioError";
  }
}
