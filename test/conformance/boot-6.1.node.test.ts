/**
 * The simulator's --kernel 6.1 against Debian 12's own kernel, booted (qemu;
 * bindings/harness/boot.ts): every scenario file and random VMA and KSM
 * scenarios in one boot must give the simulator's reports
 * (test/support/boot-conformance.ts).
 *
 * Skipped, with the reason, when the machine cannot boot kernels or the
 * package cannot be fetched (.ci/run prefetches it). VMASIM_BOOT_KERNEL_6_1:
 * the package, glob or vmlinuz (default linux-image-6.1.0-50-amd64-unsigned,
 * 6.1.176, exactly: the preset is that kernel's, and later 6.1.y updates
 * differ, e.g. 6.1.192 no longer lets a DONTUNMAP copy merge with its
 * source). VMASIM_BOOT_RANDOM (default 200),
 * VMASIM_BOOT_KSM_RANDOM (default 100), VMASIM_BOOT_SEED as for boot-6.12.
 */
import { BOOT_PACKAGE_6_1, bootImage } from "../support/boot-image.js";
import { describeBootConformance } from "../support/boot-conformance.js";

const { image, reason: skip } = bootImage(process.env.VMASIM_BOOT_KERNEL_6_1 ?? BOOT_PACKAGE_6_1);

describeBootConformance({ kernel: "6.1", title: "Debian 6.1", image, skip, random: 200, ksmRandom: 100 });
