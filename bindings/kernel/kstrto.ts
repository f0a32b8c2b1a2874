/**
 * How sysfs store functions read a written value (lib/kstrtox.c): kstrtouint
 * and kstrtoint in base 10, kstrtobool, and the advisor_mode words. The
 * facade parses a knob write once into these numbers; both engines then apply
 * the knob's own rules to them.
 */

/** A written value as each parser sees it: NaN (or -1) where that parser refuses it. */
export interface KnobValue {
  /** kstrtoul/kstrtouint base 10, or NaN. */
  readonly u: number;
  /** kstrtoint base 10, or NaN. */
  readonly i: number;
  /** kstrtobool: 1, 0, or -1 if refused. */
  readonly b: number;
  /** advisor_mode: 0 "none", 1 "scan-time", -1 anything else. */
  readonly mode: number;
}

/** Parse a written knob value (one trailing newline is allowed, as sysfs writes carry one). */
export function parseKnobValue(text: string): KnobValue {
  const t = text.endsWith("\n") ? text.slice(0, -1) : text;
  const um = /^\+?([0-9]+)$/.exec(t);
  const u = um === null || Number(um[1]) > 2 ** 64 - 1 ? Number.NaN : Number(um[1]);
  const im = /^([+-]?[0-9]+)$/.exec(t);
  const i = im === null || Math.abs(Number(im[1])) > 2 ** 31 || Number(im[1]) === 2 ** 31 ? Number.NaN : Number(im[1]);
  return { u, i, b: kstrtobool(t), mode: t === "none" ? 0 : t === "scan-time" ? 1 : -1 };
}

/** kstrtobool(): 1 y Y t T on / 0 n N f F off (only the first characters matter). */
function kstrtobool(t: string): number {
  const c = t[0];
  if (c === "1" || c === "y" || c === "Y" || c === "t" || c === "T") return 1;
  if (c === "0" || c === "n" || c === "N" || c === "f" || c === "F") return 0;
  if (c === "o" || c === "O") {
    const d = t[1];
    if (d === "n" || d === "N") return 1;
    if (d === "f" || d === "F") return 0;
  }
  return -1;
}

/**
 * What reading a knob's file shows (its sysfs show function, without the
 * newline): advisor_mode as "[none] scan-time" or "none [scan-time]", the
 * others in decimal. The engines keep knobs as JS numbers, so a value beyond
 * 2^53 was rounded; one rounded up to 2^64 shows as 2^64 - 1.
 */
export function showKnob(key: KsmKnobName, value: number): string {
  if (key === "advisor_mode") return value === 1 ? "none [scan-time]" : "[none] scan-time";
  return (value >= 2 ** 64 ? (1n << 64n) - 1n : BigInt(value)).toString();
}

/** The knobs, in the order of their index in the engine ABI. */
export const KSM_KNOB_NAMES = [
  "run", "pages_to_scan", "sleep_millisecs", "max_page_sharing", "use_zero_pages", "smart_scan", "merge_across_nodes",
  "stable_node_chains_prune_millisecs", "advisor_mode", "advisor_target_scan_time", "advisor_min_pages_to_scan",
  "advisor_max_pages_to_scan", "advisor_max_cpu",
] as const;
export type KsmKnobName = (typeof KSM_KNOB_NAMES)[number];
