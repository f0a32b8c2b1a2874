/**
 * Scenarios on a booted Debian kernel under qemu (bindings/harness/boot.ts,
 * docs/boot.md). One boot runs every scenario of this file.
 *
 * Skipped, with the reason printed, when the machine cannot boot kernels
 * (no qemu-system-x86_64, static busybox, mkfs.ext4, cc or xz) or the kernel
 * package cannot be had (apt-get download failed). .ci/run installs them.
 *
 * VMASIM_BOOT_KERNEL: the package (or glob, or vmlinuz path) to boot; default
 *   the newest Debian 12 6.12 kernel, `linux-image-6.12.*+deb12-amd64-unsigned`.
 * (Every scenario file against the simulator's --kernel 6.12:
 *   test/conformance/boot-6.12.node.test.ts.)
 * VMASIM_BOOT_ACCEL=kvm|tcg: force the accelerator (default: KVM if usable).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  bootAndRun,
  type BootOptions,
  type BootRun,
  fetchKernelImage,
  kernelVersionOf,
  moduleClosure,
} from "../../bindings/harness/boot.js";
import { bootImage } from "../support/boot-image.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const SCENARIOS = join(ROOT, "test", "scenarios");
const ACCEL = process.env.VMASIM_BOOT_ACCEL === "kvm" || process.env.VMASIM_BOOT_ACCEL === "tcg" ? process.env.VMASIM_BOOT_ACCEL : "auto";

const { image, reason: skipReason } = bootImage();
if (image === null) console.warn(`boot tests skipped: ${skipReason}`);

const text = (rel: string): string => readFileSync(join(SCENARIOS, rel), "utf8");
function expectedLines(rel: string): string[] {
  const lines = readFileSync(join(SCENARIOS, rel.replace(/\.vms$/, ".expected")), "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The seed case of the issue: two fresh adjacent anon mappings under PR_SET_MEMORY_MERGE. */
const SEED = [
  "prctl memory_merge 1",
  "mmap 0x100000000000 8p rw- private|anon|fixed",
  "mmap 0x100000008000 8p rw- private|anon|fixed",
  "vmflags",
  "count",
].join("\n");

/** ksmd never finishes 10^6 full scans: the guest's per-scenario timeout must stop it. */
const HANG = ["prctl memory_merge 1", "mmap 0x100000000000 8p rw- private|anon|fixed", "ksm run=1 sleep_millisecs=1000", "ksm_scan 1000000"].join("\n");

/**
 * Debian's kernels have CONFIG_MEM_SOFT_DIRTY, so every VMA there shows `sd`
 * (the 6.18 kernel the .expected files come from has no soft-dirty); VM_SOFTDIRTY
 * never blocks a merge. Compare without it.
 */
const dropSd = (lines: readonly string[]): string[] =>
  lines.map((l) => {
    const bar = l.indexOf(" | ");
    return bar < 0 ? l : l.slice(0, bar + 3) + l.slice(bar + 3).split(" ").filter((f) => f !== "sd").join(" ");
  });

/** Scenario files that give the same report on 6.12 as on 6.18 (.expected), `sd` aside. */
const SAME = ["vmatest-simple_merge.vms", "measured-M1_mprotect_middle.vms", "measured-X1_file_identity.vms", "measured-K6_dev_zero.vms"];

const OPTS: BootOptions = { accel: ACCEL, scenarioTimeoutSec: 20 };

describe.skipIf(image === null)("scenarios on a booted kernel", () => {
  let run: BootRun;
  const texts = [SEED, "mmap nonsense", ...SAME.map(text), HANG, text("measured-K2_prctl_new_merge.vms"), SEED];

  beforeAll(() => {
    run = bootAndRun(image!, texts, OPTS);
    const ms = run.scenarioMs.map((m) => (Number.isNaN(m) ? "-" : m.toFixed(0))).join(" ");
    console.log(
      `boot: ${image!.package ?? image!.vmlinuz} → guest uname -r ${run.uname}, accel ${run.accel}` +
        `${run.kvmFallback ? ` (KVM given up: ${run.kvmFallback})` : ""}, thp "${run.thp}", ` +
        `prepare ${run.prepareMs} ms, guest ready at ${run.bootMs.toFixed(0)} ms, qemu wall ${run.wallMs} ms, per scenario (ms): ${ms}`,
    );
    // Once seen locally and not reproduced: most tests failing together. If the guest did not come up, show why.
    if (run.uname !== image!.version) console.log(`boot: the guest did not report its version; console tail:\n${run.console.slice(-4000)}`);
  }, 900_000);

  it("boots the package's kernel", () => {
    expect(run.uname).toBe(image!.version);
    expect(kernelVersionOf(image!.vmlinuz)).toBe(image!.version);
    // The guest loaded every module without complaint (scripts/boot/init prints failures).
    expect(run.console).not.toMatch(/vmasim: insmod|\/init: /);
  });

  it("a vmlinuz path finds the modules of the extracted package next to it", () => {
    const byPath = fetchKernelImage(image!.vmlinuz);
    expect(byPath).toEqual({ ...image!, package: null });
  });

  it("ext4 and virtio_blk come with their dependencies, dependencies first", () => {
    if (image!.modulesDir === null) return; // a kernel with them built in
    const names = moduleClosure(image!.modulesDir, ["virtio_blk", "ext4"]).map((m) => m.name);
    expect(names).toContain("ext4");
    for (const dep of ["jbd2", "mbcache", "crc16"]) {
      if (names.includes(dep)) expect(names.indexOf(dep)).toBeLessThan(names.indexOf("ext4"));
    }
    // ext4's soft dependency on crc32c (metadata_csum) is resolved through the alias crypto-crc32c.
    if (/^6\.12\./.test(image!.version)) expect(names.some((n) => n.startsWith("crc32c"))).toBe(true);
  });

  it("optional modules (virtio_pci: built in on 6.12, a module on Debian's 6.1) load first when present, and are no error when absent", () => {
    if (image!.modulesDir === null) return; // a kernel with them built in
    const plain = moduleClosure(image!.modulesDir, ["virtio_blk", "ext4"]).map((m) => m.name);
    const names = moduleClosure(image!.modulesDir, ["virtio_blk", "ext4"], ["virtio_pci", "no_such_module"]).map((m) => m.name);
    if (names.includes("virtio_pci")) expect(names.indexOf("virtio_pci")).toBeLessThan(names.indexOf("virtio_blk"));
    else expect(names).toEqual(plain);
    expect(names).not.toContain("no_such_module");
    expect(() => moduleClosure(image!.modulesDir!, ["no_such_module"])).toThrow(/no_such_module not found/);
  });

  it("seed case: on 6.12 two fresh adjacent anon VMAs under memory_merge stay two, both mg", () => {
    const r = run.results[0]!;
    expect(r).toHaveProperty("lines");
    const lines = (r as { lines: string[] }).lines;
    if (/^6\.12\./.test(run.uname)) {
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^100000000000-100000008000 rw-p 00000000 \| .* mg$/);
      expect(lines[1]).toMatch(/^100000008000-100000010000 rw-p 00000000 \| .* mg$/);
      expect(lines[2]).toBe("vmas 2");
    }
    // The same scenario again, after a timed-out one, gives the same report.
    expect(run.results[texts.length - 1]).toEqual(r);
  });

  it("a malformed scenario is an error and does not stop the others", () => {
    expect(run.results[1]).toEqual({ error: expect.stringMatching(/line 1/) });
  });

  it.each(SAME.map((rel, i) => [rel, i + 2] as const))("%s gives its .expected (but for sd)", (rel, i) => {
    const r = run.results[i]!;
    expect(r).toHaveProperty("lines");
    expect(dropSd((r as { lines: string[] }).lines)).toEqual(expectedLines(rel));
  });

  it("a scenario that hangs times out in the guest; the later ones still run", () => {
    const i = 2 + SAME.length;
    expect(run.results[i]).toEqual({ error: expect.stringMatching(/timed out after 20 s/) });
    expect(run.results[i + 1]).toHaveProperty("lines");
  });
});

describe.skipIf(image === null)("a guest that dies", () => {
  it("a guest whose init cannot start reports every scenario as an error (no hang)", () => {
    const run = bootAndRun(image!, [SEED, SEED], { ...OPTS, append: "rdinit=/nonexistent" });
    expect(run.uname).toBe("");
    for (const r of run.results) expect(r).toEqual({ error: expect.stringMatching(/^boot: no result: /) });
    expect(run.console).toMatch(/Kernel panic|No working init/);
  }, 300_000);

  it("qemu is killed after the overall timeout and the scenarios are errors", () => {
    const run = bootAndRun(image!, [SEED], { ...OPTS, totalTimeoutSec: 1 });
    expect(run.results).toEqual([{ error: expect.stringMatching(/overall timeout of 1 s/) }]);
    expect(run.wallMs).toBeLessThan(10_000);
  }, 300_000);
});
