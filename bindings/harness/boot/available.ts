/**
 * Whether this machine can boot kernels: the host tools a boot needs
 * (qemu, a static busybox, mkfs.ext4, cc, xz) are present.
 */
import { readFileSync } from "node:fs";
import type { BootCheck } from "../boot.js";
import { which } from "./util.js";

/** Whether an ELF file has no program interpreter (is statically linked). */
function isStaticElf(path: string): boolean {
  const b = readFileSync(path);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > b.length) return false;
    if (b.readUInt32LE(off) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** Whether this machine can boot kernels for scenarios (qemu, static busybox, mkfs.ext4, cc -static). */
export function bootAvailable(): BootCheck {
  if (process.platform !== "linux") return { ok: false, reason: `not Linux (platform ${process.platform})` };
  if (process.arch !== "x64") return { ok: false, reason: `not x86-64 (arch ${process.arch})` };
  const missing: string[] = [];
  if (which("qemu-system-x86_64") === null) missing.push("qemu-system-x86_64 (apt: qemu-system-x86)");
  const bb = which("busybox");
  if (bb === null) missing.push("busybox (apt: busybox-static)");
  else if (!isStaticElf(bb)) missing.push(`a static busybox (${bb} is dynamically linked; apt: busybox-static)`);
  if (which("mkfs.ext4") === null) missing.push("mkfs.ext4 (apt: e2fsprogs)");
  if (which("cc") === null) missing.push("cc (apt: build-essential)");
  if (which("xz") === null) missing.push("xz (apt: xz-utils)");
  if (missing.length > 0) return { ok: false, reason: `missing ${missing.join(", ")}` };
  return { ok: true, reason: "qemu, static busybox, mkfs.ext4, cc and xz present" };
}
