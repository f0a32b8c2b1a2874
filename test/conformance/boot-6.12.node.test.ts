/**
 * The simulator's --kernel 6.12 against a booted Debian 6.12 kernel (qemu;
 * bindings/harness/boot.ts): every scenario file (test/scenarios,
 * test/scenarios/ksm) and random scenarios (VMA and KSM, several processes)
 * run in one boot and must give the simulator's reports (full_scans as "at
 * least", see scenario/compare.ts).
 *
 * Skipped, with the reason, when the machine cannot boot kernels or the
 * package cannot be fetched (.ci/run installs what it needs).
 * VMASIM_BOOT_KERNEL: the package, glob or vmlinuz (default the newest
 * linux-image-6.12.*+deb12-amd64-unsigned). VMASIM_BOOT_RANDOM (default 200)
 * and VMASIM_BOOT_KSM_RANDOM (default 100): how many random scenarios;
 * VMASIM_BOOT_SEED: their seed (default: random, printed).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runOnBootedKernel } from "../../bindings/harness/boot.js";
import { bootImage } from "../support/boot-image.js";
import { reportsMatch } from "../../bindings/scenario/compare.js";
import { simOnlyReason } from "../../bindings/scenario/parse.js";
import { runScenarioLines } from "../../bindings/scenario/run.js";
import { randomKsmScenario } from "../support/random-ksm.js";
import { randomScenario } from "../support/random-scenario.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RANDOM = Number(process.env.VMASIM_BOOT_RANDOM ?? 200);
const KSM_RANDOM = Number(process.env.VMASIM_BOOT_KSM_RANDOM ?? 100);
const SEED = Number(process.env.VMASIM_BOOT_SEED ?? Math.floor(Math.random() * 2 ** 31));

const { image, reason: skip } = bootImage();

function files(dir: string): [string, string][] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".vms"))
    .sort()
    .map((f) => [`${dir}/${f.split(sep).join("/")}`, readFileSync(join(ROOT, dir, f), "utf8")]);
}

describe.skipIf(image === null)(`booted Debian 6.12 kernel${image === null ? ` (skipped: ${skip})` : ""}`, () => {
  it(`every scenario file and ${RANDOM} + ${KSM_RANDOM} random scenarios give the simulator's --kernel 6.12 reports`, () => {
    // `# sim-only:` scenarios cannot match a real kernel (their .expected is the simulator's).
    const named: [string, string][] = files("scenarios").filter(([, t]) => simOnlyReason(t) === null);
    fc.sample(randomScenario(10, 40), { numRuns: RANDOM, seed: SEED }).forEach((t, i) => named.push([`random #${i}`, t]));
    fc.sample(randomKsmScenario(), { numRuns: KSM_RANDOM, seed: SEED }).forEach((t, i) => named.push([`random KSM #${i}`, t]));
    const results = runOnBootedKernel(image!, named.map(([, t]) => t));
    const bad: string[] = [];
    named.forEach(([name, t], i) => {
      const r = results[i]!;
      const sim = runScenarioLines(t, { engine: "ts", kernel: "6.12" });
      if ("error" in r) bad.push(`${name}: kernel: ${r.error}`);
      else if (!reportsMatch(sim, r.lines)) bad.push(`${name}:\n${t}\n--- kernel\n${r.lines.join("\n")}\n--- vmasim\n${sim.join("\n")}`);
    });
    console.log(`boot-6.12: ${named.length - bad.length} of ${named.length} scenarios identical on ${image!.version} (random seed ${SEED})`);
    if (bad.length > 0) {
      mkdirSync(join(ROOT, "..", "build"), { recursive: true });
      writeFileSync(join(ROOT, "..", "build", "boot-6.12-mismatches.txt"), `${bad.join("\n\n")}\n`);
    }
    expect(bad.slice(0, 3).join("\n\n")).toBe("");
  });
});
