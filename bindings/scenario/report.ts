/**
 * Report lines of the scenario format, shared by the simulator's runner and
 * the live-kernel harness so that both print byte-identical text.
 */
import { WINDOW_END, WINDOW_START } from "../kernel/facts.js";

/** One VMA as a report shows it (what /proc/PID/maps and smaps say). */
export interface VmaView {
  readonly start: number;
  readonly end: number;
  /** As in /proc/PID/maps: `rw-p`, `r--s`. */
  readonly perms: string;
  /** Byte offset (pgoff << 12); 0 for anonymous private memory. */
  readonly offset: number;
  /** The scenario's file name, `/dev/zero (deleted)`, or null for private anonymous memory. */
  readonly name: string | null;
  /** The smaps VmFlags mnemonics, space separated, in the kernel's order. */
  readonly vmflags: string;
}

export function inWindow(start: number, end: number): boolean {
  return start >= WINDOW_START && end <= WINDOW_END;
}

export function formatMapsLine(v: VmaView): string {
  const off = v.offset.toString(16).padStart(8, "0");
  return `${v.start.toString(16)}-${v.end.toString(16)} ${v.perms} ${off}${v.name === null ? "" : ` ${v.name}`}`;
}

export function formatVmflagsLine(v: VmaView): string {
  return `${formatMapsLine(v)} | ${v.vmflags}`;
}

export function formatCount(n: number): string {
  return `vmas ${n}`;
}

/** A `ksm_get` line: the knob's name and what reading its file shows. */
export function formatKsmGet(key: string, shown: string): string {
  return `${key} ${shown}`;
}

export function formatError(line: number, command: string, errno: string): string {
  return `! ${line} ${command} ${errno}`;
}
