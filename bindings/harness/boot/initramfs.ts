/**
 * The guest's initramfs: the kernel modules ext4 and virtio_blk need (their
 * dependency closure, read from each module's .modinfo), the harness linked
 * statically, and a cpio "newc" archive of them with busybox, scripts/boot/init
 * and one protocol input per scenario.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Command } from "../../scenario/commands.js";
import type { KernelImage } from "../boot.js";
import { describe, projectRoot, run, which } from "./util.js";

// ---------------------------------------------------------------------------
// Kernel modules

interface ModInfo {
  readonly depends: string[];
  /** softdep "pre:" and "post:" names (module names or aliases). */
  readonly softdeps: string[];
  readonly aliases: string[];
}

const modName = (file: string): string => basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");

function decompressModule(file: string): Buffer {
  if (file.endsWith(".ko")) return readFileSync(file);
  if (file.endsWith(".gz")) return gunzipSync(readFileSync(file));
  const tool = file.endsWith(".xz") ? "xz" : file.endsWith(".zst") ? "zstd" : null;
  if (tool === null) throw new Error(`boot: unknown module compression: ${file}`);
  const r = spawnSync(tool, ["-dc", file], { maxBuffer: 1 << 28 });
  if (r.error || r.status !== 0) throw new Error(`boot: ${tool} -dc ${file} failed: ${describe(r)}`);
  return r.stdout;
}

/** The `.modinfo` section's key=value strings of an ELF64 module. */
function modInfo(ko: Buffer): ModInfo {
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const sect = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: ko.readUInt32LE(o), offset: Number(ko.readBigUInt64LE(o + 0x18)), size: Number(ko.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = sect(shstrndx);
  const info: ModInfo = { depends: [], softdeps: [], aliases: [] };
  for (let i = 0; i < shnum; i++) {
    const s = sect(i);
    const nameEnd = ko.indexOf(0, strtab.offset + s.name);
    if (ko.toString("latin1", strtab.offset + s.name, nameEnd) !== ".modinfo") continue;
    for (const kv of ko.toString("latin1", s.offset, s.offset + s.size).split("\0")) {
      const eq = kv.indexOf("=");
      if (eq < 0) continue;
      const key = kv.slice(0, eq);
      const value = kv.slice(eq + 1);
      if (key === "depends") info.depends.push(...value.split(",").filter((v) => v !== ""));
      else if (key === "alias") info.aliases.push(value);
      else if (key === "softdep")
        info.softdeps.push(...value.split(/\s+/).filter((w) => w !== "" && w !== "pre:" && w !== "post:"));
    }
  }
  return info;
}

/**
 * The modules to insmod for `wanted` (module names) in load order, each with
 * its decompressed contents. Dependencies come from each module's `depends=`;
 * soft dependencies (`softdep=pre: crypto-crc32c`, by name or alias) are added
 * as optional modules (an insmod failure of those is harmless), and so are
 * `optional` ones (loaded first, when the kernel has them as modules).
 * Built-in modules (modules.builtin) are skipped.
 */
export function moduleClosure(
  modulesDir: string,
  wanted: readonly string[],
  optional: readonly string[] = [],
): { name: string; file: string; data: Buffer }[] {
  const files = new Map<string, string>();
  for (const rel of readdirSync(join(modulesDir, "kernel"), { recursive: true, encoding: "utf8" })) {
    if (/\.ko(\.(xz|zst|gz))?$/.test(rel)) files.set(modName(rel), join(modulesDir, "kernel", rel));
  }
  const builtin = new Set<string>();
  try {
    for (const l of readFileSync(join(modulesDir, "modules.builtin"), "utf8").split("\n")) if (l !== "") builtin.add(modName(l));
  } catch {
    // no list: assume nothing is built in
  }
  const cache = new Map<string, { data: Buffer; info: ModInfo }>();
  const load = (name: string) => {
    let m = cache.get(name);
    if (m === undefined) {
      const data = decompressModule(files.get(name)!);
      m = { data, info: modInfo(data) };
      cache.set(name, m);
    }
    return m;
  };
  /** A softdep word → module names: the module of that name, else those (with a name sharing its stem) that declare it as an alias. */
  const resolveSoft = (word: string): string[] => {
    const n = word.replace(/-/g, "_");
    if (files.has(n) || builtin.has(n)) return [n];
    const stem = word.replace(/^crypto-/, "").replace(/-/g, "_");
    return [...files.keys()].filter((f) => f.includes(stem) && load(f).info.aliases.includes(word)).sort((a, b) => a.length - b.length);
  };
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, required: boolean) => {
    if (seen.has(name) || builtin.has(name)) return;
    seen.add(name);
    if (!files.has(name)) {
      if (required) throw new Error(`boot: kernel module ${name} not found under ${modulesDir}`);
      return;
    }
    const { info } = load(name);
    for (const s of info.softdeps) for (const n of resolveSoft(s)) visit(n, false);
    for (const d of info.depends) visit(d.replace(/-/g, "_"), true);
    order.push(name);
  };
  for (const o of optional) visit(o, false);
  for (const w of wanted) visit(w, true);
  return order.map((name) => ({ name, file: files.get(name)!, data: load(name).data }));
}

// ---------------------------------------------------------------------------
// initramfs (cpio "newc", written here: no cpio tool needed)

type CpioEntry =
  | { readonly path: string; readonly kind: "dir" }
  | { readonly path: string; readonly kind: "file"; readonly data: Buffer; readonly mode: number }
  | { readonly path: string; readonly kind: "symlink"; readonly target: string }
  | { readonly path: string; readonly kind: "chardev"; readonly major: number; readonly minor: number };

function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
  };
  const pad = () => {
    if (size % 4 !== 0) push(Buffer.alloc(4 - (size % 4)));
  };
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const header = (ino: number, mode: number, nlink: number, filesize: number, rmaj: number, rmin: number, name: string) => {
    const nameBuf = Buffer.from(`${name}\0`, "utf8");
    const fields = [ino, mode, 0, 0, nlink, 0, filesize, 0, 0, rmaj, rmin, nameBuf.length, 0];
    push(Buffer.from(`070701${fields.map(hex).join("")}`, "latin1"));
    push(nameBuf);
    pad();
  };
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, "");
    switch (e.kind) {
      case "dir":
        header(ino++, 0o040755, 2, 0, 0, 0, name);
        break;
      case "file":
        header(ino++, 0o100000 | e.mode, 1, e.data.length, 0, 0, name);
        push(e.data);
        pad();
        break;
      case "symlink": {
        const t = Buffer.from(e.target, "utf8");
        header(ino++, 0o120777, 1, t.length, 0, 0, name);
        push(t);
        pad();
        break;
      }
      case "chardev":
        header(ino++, 0o020600, 1, 0, e.major, e.minor, name);
        break;
    }
  }
  header(0, 0, 1, 0, 0, 0, "TRAILER!!!");
  return Buffer.concat(parts, size);
}

/** Compiles harness/vmasim-kernel.c statically to build/vmasim-kernel-static (when older than the source). */
export function buildStaticHarness(): string {
  const root = projectRoot();
  const src = join(root, "harness", "vmasim-kernel.c");
  const bin = join(root, "build", "vmasim-kernel-static");
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = run("cc", ["-static", "-O2", "-Wall", "-o", tmp, src]);
  if (r.error || r.status !== 0) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to remove
    }
    throw new Error(`boot: cc -static failed to compile ${src} (is libc6-dev installed?): ${describe(r)}`);
  }
  renameSync(tmp, bin);
  return bin;
}

/** A scenario ready for the guest: its commands, translate()'s names and its protocol input. */
export interface Parsed {
  readonly commands: readonly Command[];
  readonly names: ReadonlyMap<string, string>;
  readonly input: string;
}

/** The guest's initramfs (scripts/boot/init and what it reads). */
export function initramfs(image: KernelImage, parsed: readonly (Parsed | null)[], scenarioTimeout: number): Buffer {
  const root = projectRoot();
  const runnable = parsed.flatMap((p, i) => (p === null ? [] : [i]));
  const entries: CpioEntry[] = [];
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "scratch", "vmasim", "vmasim/in", "vmasim/modules"]) entries.push({ path: d, kind: "dir" });
  entries.push({ path: "dev/console", kind: "chardev", major: 5, minor: 1 });
  entries.push({ path: "bin/busybox", kind: "file", data: readFileSync(which("busybox")!), mode: 0o755 });
  entries.push({ path: "bin/sh", kind: "symlink", target: "busybox" });
  entries.push({ path: "init", kind: "file", data: readFileSync(join(root, "scripts", "boot", "init")), mode: 0o755 });
  entries.push({ path: "vmasim/vmasim-kernel", kind: "file", data: readFileSync(buildStaticHarness()), mode: 0o755 });
  const mods = image.modulesDir === null ? [] : moduleClosure(image.modulesDir, ["virtio_blk", "ext4"], ["virtio_pci"]);
  for (const m of mods) entries.push({ path: `vmasim/modules/${m.name}.ko`, kind: "file", data: m.data, mode: 0o644 });
  entries.push({ path: "vmasim/modules/order", kind: "file", data: Buffer.from(mods.map((m) => `${m.name}.ko\n`).join("")), mode: 0o644 });
  for (const i of runnable) entries.push({ path: `vmasim/in/${i}`, kind: "file", data: Buffer.from(parsed[i]!.input), mode: 0o644 });
  const config = `SCENARIOS="${runnable.join(" ")}"\nTIMEOUT=${scenarioTimeout}\n`;
  entries.push({ path: "vmasim/config", kind: "file", data: Buffer.from(config), mode: 0o644 });
  return cpioNewc(entries);
}
