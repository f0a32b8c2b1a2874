/**
 * The simulator's --kernel 6.12 against a booted Debian 6.12 kernel (qemu;
 * bindings/harness/boot.ts): every scenario file (test/scenarios,
 * test/scenarios/ksm) and random scenarios (VMA and KSM, several processes)
 * run in one boot and must give the simulator's reports (full_scans as "at
 * least", see scenario/compare.ts; test/support/boot-conformance.ts).
 *
 * Skipped, with the reason, when the machine cannot boot kernels or the
 * package cannot be fetched (.ci/run installs what it needs).
 * VMASIM_BOOT_KERNEL: the package, glob or vmlinuz (default the newest
 * linux-image-6.12.*+deb12-amd64-unsigned). VMASIM_BOOT_RANDOM (default 200)
 * and VMASIM_BOOT_KSM_RANDOM (default 100): how many random scenarios;
 * VMASIM_BOOT_SEED: their seed (default: random, printed).
 */
import { bootImage } from "../support/boot-image.js";
import { describeBootConformance } from "../support/boot-conformance.js";

const { image, reason: skip } = bootImage();

describeBootConformance({ kernel: "6.12", title: "Debian 6.12", image, skip, random: 200, ksmRandom: 100 });
