/**
 * The kernel image the boot tests use: VMASIM_BOOT_KERNEL (a Debian package,
 * glob or vmlinuz; default the newest linux-image-6.12.*+deb12-amd64-unsigned,
 * or the package a test names), or the reason it cannot be had here (no qemu,
 * busybox-static, ...; the package cannot be fetched).
 */
import { bootAvailable, fetchKernelImage, type KernelImage } from "../../bindings/harness/boot.js";

export const BOOT_PACKAGE = process.env.VMASIM_BOOT_KERNEL ?? "linux-image-6.12.*+deb12-amd64-unsigned";

/** The kernel the "6.1" preset was measured on (6.1.176); .ci/run prefetches the same name. */
export const BOOT_PACKAGE_6_1 = "linux-image-6.1.0-50-amd64-unsigned";

export function bootImage(pkg: string = BOOT_PACKAGE): { image: KernelImage | null; reason: string } {
  const check = bootAvailable();
  if (!check.ok) return { image: null, reason: check.reason };
  try {
    return { image: fetchKernelImage(pkg), reason: "" };
  } catch (e) {
    return { image: null, reason: `kernel package ${pkg} not available: ${(e as Error).message}` };
  }
}
