/**
 * The booted-kernel conformance check shared by boot-6.12 and boot-6.1:
 * every scenario file (test/scenarios, test/scenarios/ksm) and random
 * scenarios (VMA and KSM, several processes) run in one boot of `image` and
 * must give the simulator's `--kernel KERNEL` reports (full_scans as "at
 * least", see scenario/compare.ts). Skipped, with the reason, when there is
 * no image. VMASIM_BOOT_RANDOM / VMASIM_BOOT_KSM_RANDOM (defaults given by
 * the caller): how many random scenarios; VMASIM_BOOT_SEED: their seed
 * (default: random, printed). Mismatches go to build/boot-KERNEL-mismatches.txt.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type KernelImage, runOnBootedKernel } from "../../bindings/harness/boot.js";
import { reportsMatch } from "../../bindings/scenario/compare.js";
import { simOnlyReason } from "../../bindings/scenario/parse.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomKsmScenario } from "./random-ksm.js";
import { randomScenario } from "./random-scenario.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function files(dir: string): [string, string][] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".vms"))
    .sort()
    .map((f) => [`${dir}/${f.split(sep).join("/")}`, readFileSync(join(ROOT, dir, f), "utf8")]);
}

export interface BootConformance {
  /** The simulator's preset, e.g. "6.12". */
  readonly kernel: string;
  /** What the describe block calls the kernel, e.g. "Debian 6.12". */
  readonly title: string;
  readonly image: KernelImage | null;
  readonly skip: string;
  readonly random: number;
  readonly ksmRandom: number;
}

export function describeBootConformance(o: BootConformance): void {
  const random = Number(process.env.VMASIM_BOOT_RANDOM ?? o.random);
  const ksmRandom = Number(process.env.VMASIM_BOOT_KSM_RANDOM ?? o.ksmRandom);
  const seed = Number(process.env.VMASIM_BOOT_SEED ?? Math.floor(Math.random() * 2 ** 31));
  describe.skipIf(o.image === null)(`booted ${o.title} kernel${o.image === null ? ` (skipped: ${o.skip})` : ""}`, () => {
    it(`every scenario file and ${random} + ${ksmRandom} random scenarios give the simulator's --kernel ${o.kernel} reports`, () => {
      // `# sim-only:` scenarios cannot match a real kernel (their .expected is the simulator's).
      const named: [string, string][] = files("scenarios").filter(([, t]) => simOnlyReason(t) === null);
      fc.sample(randomScenario(10, 40), { numRuns: random, seed }).forEach((t, i) => named.push([`random #${i}`, t]));
      fc.sample(randomKsmScenario(), { numRuns: ksmRandom, seed }).forEach((t, i) => named.push([`random KSM #${i}`, t]));
      const results = runOnBootedKernel(o.image!, named.map(([, t]) => t));
      const bad: string[] = [];
      named.forEach(([name, t], i) => {
        const r = results[i]!;
        const sim = runScenarioLines(t, { engine: "ts", kernel: o.kernel });
        if ("error" in r) bad.push(`${name}: kernel: ${r.error}`);
        else if (!reportsMatch(sim, r.lines)) bad.push(`${name}:\n${t}\n--- kernel\n${r.lines.join("\n")}\n--- vmasim\n${sim.join("\n")}`);
      });
      console.log(`boot-${o.kernel}: ${named.length - bad.length} of ${named.length} scenarios identical on ${o.image!.version} (random seed ${seed})`);
      if (bad.length > 0) {
        mkdirSync(join(ROOT, "..", "build"), { recursive: true });
        writeFileSync(join(ROOT, "..", "build", `boot-${o.kernel}-mismatches.txt`), `${bad.join("\n\n")}\n`);
      }
      expect(bad.slice(0, 3).join("\n\n")).toBe("");
    });
  });
}
