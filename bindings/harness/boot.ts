/**
 * Scenarios on a booted kernel: runs the live-kernel harness
 * (harness/vmasim-kernel.c, docs/live-harness.md) inside a qemu guest that
 * boots a given kernel (a Debian linux-image package or a vmlinuz file), and
 * formats its records exactly as runOnKernel does, so the reports can be
 * diffed against the simulator and against other kernels. See docs/boot.md.
 *
 * One boot runs every scenario: the host builds an initramfs (static busybox,
 * the harness linked statically, the kernel's own ext4/virtio_blk modules, one
 * protocol input per scenario and scripts/boot/init) and an ext4 scratch disk;
 * the guest runs the harness once per scenario under a timeout and prints the
 * framed outputs on its second serial port, then powers off.
 *
 * This file is the public entry: the types, and runOnBootedKernel. The work
 * is in boot/: util.ts (process helpers), available.ts (bootAvailable),
 * images.ts (kernel cache, fetchKernelImage), initramfs.ts (modules, cpio,
 * the static harness) and qemu.ts (kvmUsable, bootAndRun).
 */
import { bootAndRun } from "./boot/qemu.js";

export { bootAvailable } from "./boot/available.js";
export { fetchKernelImage, kernelCacheDir, kernelVersionOf } from "./boot/images.js";
export { buildStaticHarness, moduleClosure } from "./boot/initramfs.js";
export { bootAndRun, kvmUsable } from "./boot/qemu.js";

// ---------------------------------------------------------------------------
// Types

/** A kernel to boot. */
export interface KernelImage {
  /** The bzImage. */
  readonly vmlinuz: string;
  /**
   * `.../lib/modules/VERSION` of the same build (for ext4, virtio_blk and
   * their dependencies), or null when there is none: then the kernel must
   * have ext4 and virtio_blk built in.
   */
  readonly modulesDir: string | null;
  /** The kernel release, as `uname -r` prints it (from the bzImage header). */
  readonly version: string;
  /** The package it came from (`name=version`), or null for a vmlinuz path. */
  readonly package: string | null;
}

export type BootResult = { readonly lines: string[] } | { readonly error: string };

export interface BootOptions {
  /** "auto" (default): KVM when /dev/kvm works, else TCG. */
  readonly accel?: "auto" | "kvm" | "tcg";
  /** Guest memory in MiB (default 2048). */
  readonly memoryMiB?: number;
  /** Guest CPUs (default 2). */
  readonly cpus?: number;
  /** Per-scenario limit inside the guest, seconds (default 60). */
  readonly scenarioTimeoutSec?: number;
  /** Limit for the whole qemu run, seconds (default: 180 + N × (scenario limit + 10)). */
  readonly totalTimeoutSec?: number;
  /**
   * /sys/kernel/mm/transparent_hugepage/enabled in the guest (default
   * "madvise", as on the machine the .expected files were recorded on;
   * null: the kernel's own default).
   */
  readonly thp?: string | null;
  /** More kernel command-line words. */
  readonly append?: string;
  /** Keep the work dir (initramfs, disk image, serial logs) and name it in the run. */
  readonly keepWorkDir?: boolean;
}

/** Everything one boot produced. */
export interface BootRun {
  readonly results: BootResult[];
  /** `uname -r` in the guest ("" if it never got that far). */
  readonly uname: string;
  /** The guest's THP `enabled` line. */
  readonly thp: string;
  readonly accel: "kvm" | "tcg";
  /** Why a KVM boot was tried and given up for TCG (null if not). */
  readonly kvmFallback: string | null;
  /** Guest uptime when the scenarios could start (kernel boot + init + insmod + mount), ms. */
  readonly bootMs: number;
  /** Guest time per scenario, ms (NaN for a scenario that never ended). */
  readonly scenarioMs: number[];
  /** Host wall time of the whole qemu run, ms. */
  readonly wallMs: number;
  /** Host time to build the initramfs and disk, ms. */
  readonly prepareMs: number;
  /** The kernel console (ttyS0). */
  readonly console: string;
  /** The work dir (initramfs, scratch.ext4, console.log, data.log) when kept: keepWorkDir, or VMASIM_BOOT_KEEP=1 and some scenario failed. */
  readonly workDir: string | null;
}

export interface BootCheck {
  readonly ok: boolean;
  readonly reason: string;
}

/** bootAndRun's per-scenario results: report lines, or an error. */
export function runOnBootedKernel(image: KernelImage, texts: readonly string[], opts: BootOptions = {}): BootResult[] {
  return bootAndRun(image, texts, opts).results;
}
