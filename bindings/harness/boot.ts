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
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  accessSync,
  constants as fsConstants,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import type { Command } from "../scenario/commands.js";
import { parseScenario } from "../scenario/parse.js";
import { report, translate } from "./live.js";

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

// ---------------------------------------------------------------------------
// Small helpers

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`boot: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The full path of an executable found in PATH (or the sbin dirs, for mkfs.ext4), or null. */
function which(name: string): string | null {
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
  for (const d of dirs) {
    if (d === "") continue;
    const p = join(d, name);
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 1 << 28,
  });
}

function describe(r: SpawnSyncReturns<string | Buffer>): string {
  if (r.error) return r.error.message;
  const how = r.status === null ? `killed by ${r.signal}` : `exit status ${r.status}`;
  const out = `${String(r.stdout ?? "")}${String(r.stderr ?? "")}`.trim();
  return out === "" ? how : `${how}: ${out.split("\n").slice(-15).join("\n")}`;
}

function mustRun(what: string, cmd: string, args: readonly string[], opts: { cwd?: string; input?: string } = {}): string {
  const r = run(cmd, args, opts);
  if (r.error || r.status !== 0) throw new Error(`boot: ${what} failed (${cmd} ${args.join(" ")}): ${describe(r)}`);
  return r.stdout;
}

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

// ---------------------------------------------------------------------------
// Availability

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

// ---------------------------------------------------------------------------
// Kernel images

/** The kernel cache: $VMASIM_KERNEL_CACHE, else $XDG_CACHE_HOME/vmasim/kernels, else ~/.cache/vmasim/kernels. */
export function kernelCacheDir(): string {
  const env = process.env.VMASIM_KERNEL_CACHE;
  if (env) return resolve(env);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".cache"), "vmasim", "kernels");
}

/** The release string of a bzImage (x86 boot protocol: `kernel_version` at 0x20e). */
export function kernelVersionOf(vmlinuz: string): string {
  const fd = openSync(vmlinuz, "r");
  try {
    const hdr = Buffer.alloc(0x400);
    readSync(fd, hdr, 0, hdr.length, 0);
    if (hdr.readUInt32LE(0x202) !== 0x53726448 /* "HdrS" */) throw new Error(`boot: ${vmlinuz} is not an x86 bzImage`);
    const ptr = hdr.readUInt16LE(0x20e);
    if (ptr === 0) throw new Error(`boot: ${vmlinuz} has no kernel_version string`);
    const s = Buffer.alloc(256);
    readSync(fd, s, 0, s.length, ptr + 0x200);
    const text = s.toString("latin1");
    return text.slice(0, text.indexOf("\0") < 0 ? text.length : text.indexOf("\0")).split(" ")[0]!;
  } finally {
    closeSync(fd);
  }
}

const hasGlob = (s: string): boolean => /[*?[]/.test(s);

function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const j = glob.indexOf("]", i + 1);
      if (j < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, j).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

let aptUpdated = false;
function aptUpdate(): void {
  if (aptUpdated) return;
  aptUpdated = true;
  const sudo = process.getuid?.() === 0 || which("sudo") === null ? [] : ["sudo", "-n"];
  const r = sudo.length > 0 ? run(sudo[0]!, [...sudo.slice(1), "apt-get", "update", "-qq"]) : run("apt-get", ["update", "-qq"]);
  if (r.error || r.status !== 0) throw new Error(`boot: apt-get update failed: ${describe(r)}`);
}

/** Candidate versions of packages by `apt-cache policy` (packages without a candidate are left out). */
function candidates(names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (names.length === 0) return out;
  const text = mustRun("apt-cache policy", "apt-cache", ["policy", ...names]);
  let cur: string | null = null;
  for (const line of text.split("\n")) {
    const head = /^(\S+):$/.exec(line);
    if (head) cur = head[1]!;
    const cand = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (cand && cur !== null && cand[1] !== "(none)") out.set(cur, cand[1]!);
  }
  return out;
}

function versionGreater(a: string, b: string): boolean {
  return spawnSync("dpkg", ["--compare-versions", a, "gt", b]).status === 0;
}

/**
 * A package name (or glob: the newest matching package, the shortest name among
 * equal versions) → [name, candidate version]. Runs apt-get update once if apt
 * knows nothing.
 */
function resolvePackage(pkg: string): [string, string] {
  for (let attempt = 0; ; attempt++) {
    let names: string[];
    if (hasGlob(pkg)) {
      const re = globRegExp(pkg);
      // The fixed prefix up to the first wildcard narrows apt's own search.
      const prefix = pkg.slice(0, pkg.search(/[*?[]/));
      const r = run("apt-cache", ["search", "--names-only", `^${prefix.replace(/[.+^${}()|\\]/g, "\\$&")}`]);
      if (r.error || r.status !== 0) throw new Error(`boot: apt-cache search failed: ${describe(r)}`);
      names = r.stdout
        .split("\n")
        .map((l) => l.split(" - ")[0]!.trim())
        .filter((n) => n !== "" && re.test(n));
    } else names = [pkg];
    const cands = candidates(names);
    let best: [string, string] | null = null;
    for (const [n, v] of cands) {
      if (best === null || versionGreater(v, best[1]) || (!versionGreater(best[1], v) && n.length < best[0].length)) best = [n, v];
    }
    if (best !== null) return best;
    if (attempt === 0) {
      aptUpdate();
      continue;
    }
    throw new Error(`boot: no installable package matches '${pkg}' (apt-cache policy shows no candidate)`);
  }
}

/** The one file in dir whose name starts with prefix and ends with suffix, or null. */
function findFile(dir: string, prefix: string, suffix: string): string | null {
  if (!existsSync(dir)) return null;
  const hits = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith(suffix));
  return hits.length > 0 ? join(dir, hits.sort()[hits.length - 1]!) : null;
}

/** The image of an extracted linux-image package (its `name=version` is in .complete). */
function imageOfTree(tree: string, fallbackName: string): KernelImage {
  let pkg = fallbackName;
  try {
    pkg = readFileSync(join(tree, ".complete"), "utf8").trim() || fallbackName;
  } catch {
    // keep the name
  }
  const vmlinuz = findFile(join(tree, "boot"), "vmlinuz-", "");
  if (vmlinuz === null) throw new Error(`boot: the package ${pkg} has no boot/vmlinuz-* (is it a linux-image package?)`);
  const version = kernelVersionOf(vmlinuz);
  const modulesDir = [join(tree, "lib", "modules", version), join(tree, "usr", "lib", "modules", version)].find((d) => existsSync(d)) ?? null;
  return { vmlinuz, modulesDir, version, package: pkg };
}

/**
 * A kernel to boot: a path to a vmlinuz (its modules are looked for in
 * ../lib/modules/VERSION next to it and in /lib/modules/VERSION), or a Debian
 * package name or glob (e.g. `linux-image-6.12.*+deb12-amd64-unsigned`), which
 * is downloaded with `apt-get download` into kernelCacheDir() and extracted
 * with `dpkg-deb -x` there (both reused when present).
 */
export function fetchKernelImage(pkg: string): KernelImage {
  if (pkg.includes("/") || (existsSync(pkg) && statSync(pkg).isFile())) {
    const vmlinuz = resolve(pkg);
    if (!existsSync(vmlinuz)) throw new Error(`boot: no such kernel image: ${vmlinuz}`);
    const version = kernelVersionOf(vmlinuz);
    const modulesDir =
      [join(dirname(vmlinuz), "..", "lib", "modules", version), join("/lib/modules", version)]
        .map((d) => resolve(d))
        .find((d) => existsSync(join(d, "kernel"))) ?? null;
    return { vmlinuz, modulesDir, version, package: null };
  }
  const cache = kernelCacheDir();
  mkdirSync(cache, { recursive: true });
  // An exact name that is already extracted needs no apt at all.
  if (!hasGlob(pkg)) {
    const done = readdirSync(cache).filter((f) => f.startsWith(`${pkg}_`) && existsSync(join(cache, f, ".complete")));
    if (done.length > 0) return imageOfTree(join(cache, done.sort()[done.length - 1]!), pkg);
  }
  const [name, version] = resolvePackage(pkg);
  const arch = mustRun("dpkg --print-architecture", "dpkg", ["--print-architecture"]).trim();
  const stem = `${name}_${version.replace(/:/g, "%3a")}_${arch}`;
  const tree = join(cache, stem);
  if (existsSync(join(tree, ".complete"))) return imageOfTree(tree, `${name}=${version}`);
  let deb = join(cache, `${stem}.deb`);
  if (!existsSync(deb)) {
    let r = run("apt-get", ["download", `${name}=${version}`], { cwd: cache });
    if (r.error || r.status !== 0) {
      aptUpdate();
      r = run("apt-get", ["download", `${name}=${version}`], { cwd: cache });
    }
    if (r.error || r.status !== 0) throw new Error(`boot: apt-get download ${name}=${version} failed: ${describe(r)}`);
    if (!existsSync(deb)) {
      const got = findFile(cache, `${name}_`, ".deb");
      if (got === null) throw new Error(`boot: apt-get download ${name}=${version} left no .deb in ${cache}`);
      deb = got;
    }
  }
  const tmp = `${tree}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    mustRun("dpkg-deb -x", "dpkg-deb", ["-x", deb, tmp]);
    writeFileSync(join(tmp, ".complete"), `${name}=${version}\n`);
    rmSync(tree, { recursive: true, force: true });
    renameSync(tmp, tree);
    // The extracted tree is what gets reused; the .deb (100+ MB) is not needed any more.
    rmSync(deb, { force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return imageOfTree(tree, `${name}=${version}`);
}

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
 * as optional modules (an insmod failure of those is harmless). Built-in
 * modules (modules.builtin) are skipped.
 */
export function moduleClosure(modulesDir: string, wanted: readonly string[]): { name: string; file: string; data: Buffer }[] {
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

// ---------------------------------------------------------------------------
// qemu

let kvmVerdict: boolean | null = null;

/** Whether qemu can use KVM here (/dev/kvm read-write and a KVM accelerator that initialises). */
export function kvmUsable(): boolean {
  if (kvmVerdict !== null) return kvmVerdict;
  kvmVerdict = false;
  try {
    accessSync("/dev/kvm", fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return false;
  }
  const r = run("qemu-system-x86_64", ["-accel", "kvm", "-M", "none", "-nodefaults", "-display", "none", "-monitor", "stdio"], {
    input: "quit\n",
    timeoutMs: 20_000,
  });
  kvmVerdict = !r.error && r.status === 0;
  return kvmVerdict;
}

interface Watched {
  readonly status: number | null;
  readonly signal: string | null;
  /** Why the watchdog killed qemu ("kvm-error", "stalled", "timeout"), or null. */
  readonly reason: string | null;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs qemu under scripts/boot/qemu-watchdog.mjs (kills it on a KVM error, on silence, after totalSec). */
function qemuWatched(argv: readonly string[], progress: readonly string[], stallSec: number, totalSec: number): Watched {
  const script = join(projectRoot(), "scripts", "boot", "qemu-watchdog.mjs");
  const cfg = JSON.stringify({ argv, progress, stallSec, totalSec });
  const r = spawnSync(process.execPath, [script, cfg], {
    encoding: "utf8",
    // The watchdog ends qemu itself; this only guards against the watchdog hanging.
    timeout: (totalSec + 60) * 1000,
    killSignal: "SIGKILL",
    maxBuffer: 1 << 26,
  });
  const last = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as Watched;
  } catch {
    return { status: null, signal: null, reason: `watchdog failed: ${describe(r)}`, stderr: r.stderr ?? "", ms: NaN };
  }
}

/** Guest records on the data port start with this (scripts/boot/init). */
const MARK = "@@vmasim ";

interface Parsed {
  readonly commands: readonly Command[];
  readonly names: ReadonlyMap<string, string>;
  readonly input: string;
}

/** The guest's initramfs (scripts/boot/init and what it reads). */
function initramfs(image: KernelImage, parsed: readonly (Parsed | null)[], scenarioTimeout: number): Buffer {
  const root = projectRoot();
  const runnable = parsed.flatMap((p, i) => (p === null ? [] : [i]));
  const entries: CpioEntry[] = [];
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "scratch", "vmasim", "vmasim/in", "vmasim/modules"]) entries.push({ path: d, kind: "dir" });
  entries.push({ path: "dev/console", kind: "chardev", major: 5, minor: 1 });
  entries.push({ path: "bin/busybox", kind: "file", data: readFileSync(which("busybox")!), mode: 0o755 });
  entries.push({ path: "bin/sh", kind: "symlink", target: "busybox" });
  entries.push({ path: "init", kind: "file", data: readFileSync(join(root, "scripts", "boot", "init")), mode: 0o755 });
  entries.push({ path: "vmasim/vmasim-kernel", kind: "file", data: readFileSync(buildStaticHarness()), mode: 0o755 });
  const mods = image.modulesDir === null ? [] : moduleClosure(image.modulesDir, ["virtio_blk", "ext4"]);
  for (const m of mods) entries.push({ path: `vmasim/modules/${m.name}.ko`, kind: "file", data: m.data, mode: 0o644 });
  entries.push({ path: "vmasim/modules/order", kind: "file", data: Buffer.from(mods.map((m) => `${m.name}.ko\n`).join("")), mode: 0o644 });
  for (const i of runnable) entries.push({ path: `vmasim/in/${i}`, kind: "file", data: Buffer.from(parsed[i]!.input), mode: 0o644 });
  const config = `SCENARIOS="${runnable.join(" ")}"\nTIMEOUT=${scenarioTimeout}\n`;
  entries.push({ path: "vmasim/config", kind: "file", data: Buffer.from(config), mode: 0o644 });
  return cpioNewc(entries);
}

interface GuestOutput {
  readonly uname: string;
  readonly thp: string;
  readonly bootMs: number;
  readonly scenarioMs: number[];
  readonly guestFatal: string | null;
  readonly allDone: boolean;
  /** The scenario that had started and not ended when the output stops, or null. */
  readonly running: number | null;
}

/**
 * Reads the guest's data port (the records of scripts/boot/init) and fills
 * in results[n] for every scenario whose frame arrived whole.
 */
function readGuestOutput(
  dataText: string,
  parsed: readonly (Parsed | null)[],
  results: (BootResult | null)[],
  scenarioTimeout: number,
  consoleText: string,
): GuestOutput {
  let uname = "";
  let thp = "";
  let bootMs = NaN;
  let guestFatal: string | null = null;
  let allDone = false;
  let started: number | null = null;
  const startTime = new Map<number, number>();
  const scenarioMs = parsed.map(() => NaN);
  const lines = dataText.split("\n").map((l) => l.replace(/\r$/, ""));
  let k = 0;
  while (k < lines.length) {
    const l = lines[k++]!;
    if (!l.startsWith(MARK)) continue;
    const w = l.slice(MARK.length).split(" ");
    if (w[0] === "ready") {
      bootMs = Number(w[1]) * 1000;
      uname = w[2] ?? "";
      thp = w.slice(3).join(" ");
    } else if (w[0] === "fatal") guestFatal = w.slice(1).join(" ");
    else if (w[0] === "alldone") allDone = true;
    else if (w[0] === "start") {
      started = Number(w[1]);
      startTime.set(started, Number(w[2]));
    } else if (w[0] === "out" || w[0] === "outgz") {
      const n = Number(w[1]);
      let out: string[] = [];
      const err: string[] = [];
      let cur = out;
      let end: string[] | null = null;
      while (k < lines.length) {
        const m = lines[k++]!;
        if (m === `${MARK}err ${n}` && cur === out) cur = err;
        else if (m.startsWith(`${MARK}end ${n} `)) {
          end = m.slice(MARK.length).split(" ");
          break;
        } else if (m.startsWith(MARK)) {
          k--; // a marker of what came next: this frame lost its end
          break;
        } else cur.push(m);
      }
      if (end === null) {
        if (k < lines.length) {
          started = null;
          results[n] = { error: "boot: the scenario's output arrived incomplete over the guest's serial port (lost characters)" };
        }
        continue;
      }
      started = null;
      if (w[0] === "outgz") {
        try {
          const text = gunzipSync(Buffer.from(out.join(""), "base64")).toString("utf8");
          out = text.split("\n");
          if (out[out.length - 1] === "") out.pop();
        } catch {
          out = ["(corrupt compressed output)"];
        }
      }
      const rc = Number(end[2]);
      const t1 = Number(end[3]);
      const ms = (t1 - (startTime.get(n) ?? NaN)) * 1000;
      scenarioMs[n] = ms;
      // The guest counts the lines it sent: anything else means characters were lost.
      if ((end[4] !== undefined && Number(end[4]) !== out.length) || (end[5] !== undefined && Number(end[5]) !== err.length)) {
        results[n] = {
          error: `boot: the scenario's output arrived incomplete over the guest's serial port (${out.length}/${end[4]} stdout lines, ${err.length}/${end[5]} stderr lines)`,
        };
        continue;
      }
      const p = parsed[n]!;
      const fatal = out.find((x) => x.startsWith("fatal "));
      const stderr = err.join("\n").trim();
      if (fatal !== undefined) results[n] = { error: `live harness: ${fatal.slice(6)}` };
      else if (rc !== 0) {
        const timedOut = (rc === 124 || rc === 143 || rc === 137) && ms >= scenarioTimeout * 1000 - 500;
        results[n] = {
          error: timedOut
            ? `timed out after ${scenarioTimeout} s in the guest`
            : `live harness: exit status ${rc} in the guest${stderr ? `:\n${stderr}` : ""}${oopsNote(consoleText)}`,
        };
      } else {
        try {
          results[n] = { lines: report(p.commands, out, p.names) };
        } catch (e) {
          results[n] = { error: (e as Error).message };
        }
      }
    }
  }

  return { uname, thp, bootMs, scenarioMs, guestFatal, allDone, running: started };
}

/**
 * Boots the kernel once under qemu and runs every scenario text in it (see
 * the module comment). Returns per scenario its report lines or an error (a
 * malformed scenario, a harness `fatal`, a timeout, a guest that died first),
 * plus the guest's release, timings and console log.
 */
export function bootAndRun(image: KernelImage, texts: readonly string[], opts: BootOptions = {}): BootRun {
  const check = bootAvailable();
  if (!check.ok) throw new Error(`boot: cannot boot kernels here: ${check.reason}`);
  const t0 = Date.now();
  const wantAccel: "kvm" | "tcg" = opts.accel === "kvm" || (opts.accel !== "tcg" && kvmUsable()) ? "kvm" : "tcg";
  const scenarioTimeout = opts.scenarioTimeoutSec ?? 60;
  const results: (BootResult | null)[] = texts.map(() => null);
  const parsed: (Parsed | null)[] = texts.map((text, i) => {
    try {
      const commands = parseScenario(text);
      const { input, names } = translate(commands, `/scratch/${i}`);
      return { commands, names, input };
    } catch (e) {
      results[i] = { error: (e as Error).message };
      return null;
    }
  });
  const runnable = parsed.flatMap((p, i) => (p === null ? [] : [i]));

  const work = mkdtempSync(join(tmpdir(), "vmasim-boot-"));
  let keep = opts.keepWorkDir === true;
  try {
    const initrd = join(work, "initramfs.cpio");
    writeFileSync(initrd, initramfs(image, parsed, scenarioTimeout));

    // --- ext4 scratch disk (sparse)
    const disk = join(work, "scratch.ext4");
    writeFileSync(disk, "");
    truncateSync(disk, 256 * 1024 * 1024);
    mustRun("mkfs.ext4", which("mkfs.ext4")!, ["-q", "-F", "-b", "4096", "-E", "nodiscard", "-L", "vmasim", disk]);
    const prepareMs = Date.now() - t0;

    // --- boot
    const consoleLog = join(work, "console.log");
    const dataLog = join(work, "data.log");
    const cmdline = [
      "console=ttyS0",
      "loglevel=4",
      "panic=-1",
      "softlockup_panic=1",
      ...(opts.thp === null ? [] : [`transparent_hugepage=${opts.thp ?? "madvise"}`]),
      ...(opts.append ? [opts.append] : []),
    ].join(" ");
    const totalSec = opts.totalTimeoutSec ?? 180 + runnable.length * (scenarioTimeout + 10);
    // Silence on both serial ports longer than this means the guest is dead:
    // the guest prints a line before and after every scenario.
    const stallSec = Math.max(120, scenarioTimeout + 30);
    const boot = (acc: "kvm" | "tcg") => {
      rmSync(consoleLog, { force: true });
      rmSync(dataLog, { force: true });
      const argv = [
        "qemu-system-x86_64",
        "-nodefaults",
        "-no-reboot",
        "-display", "none",
        "-monitor", "none",
        "-accel", acc,
        // No protection keys, like this machine's CPU: with PKU, PROT_EXEC alone
        // gets an execute-only pkey and mlock of such a mapping fails to populate.
        "-cpu", acc === "kvm" ? "host,pku=off" : "max,pku=off",
        "-smp", String(opts.cpus ?? 2),
        "-m", String(opts.memoryMiB ?? 2048),
        "-kernel", image.vmlinuz,
        "-initrd", initrd,
        "-append", cmdline,
        "-serial", `file:${consoleLog}`,
        "-serial", `file:${dataLog}`,
        "-drive", `file=${disk},format=raw,if=virtio,cache=unsafe`,
      ];
      const q = qemuWatched(argv, [consoleLog, dataLog], stallSec, totalSec);
      const dataText = existsSync(dataLog) ? readFileSync(dataLog, "utf8") : "";
      return { q, dataText, hello: dataText.includes(`${MARK}hello`) };
    };
    let accel = wantAccel;
    let b = boot(accel);
    let kvmFallback: string | null = null;
    if (accel === "kvm" && opts.accel !== "kvm" && (b.q.reason === "kvm-error" || !b.hello)) {
      kvmFallback =
        b.q.reason === "kvm-error"
          ? `KVM internal error: ${b.q.stderr.trim().split("\n")[0]}`
          : `no guest output under KVM (qemu ${b.q.reason ?? (b.q.status !== null ? `exit status ${b.q.status}` : `killed by ${b.q.signal}`)}): ${b.q.stderr.trim().split("\n").slice(-2).join(" / ")}`;
      // KVM that opens but cannot run this guest (nested "kvm-pvm" hosts, CPU
      // models the outer hypervisor refuses): do it all again under TCG.
      kvmVerdict = false;
      accel = "tcg";
      b = boot(accel);
    }
    const { q, dataText } = b;
    const wallMs = q.ms;
    const consoleText = existsSync(consoleLog) ? readFileSync(consoleLog, "latin1") : "";
    const qemuFailure =
      q.reason === "timeout"
        ? `qemu killed after the overall timeout of ${totalSec} s`
        : q.reason === "stalled"
          ? `qemu killed: the guest printed nothing for ${stallSec} s`
          : q.reason === "kvm-error"
            ? `qemu stopped on a KVM internal error: ${q.stderr.trim().split("\n").slice(0, 3).join(" / ")}`
            : q.reason !== null
              ? `qemu killed (${q.reason})`
              : q.status !== 0
                ? `qemu exited with ${q.status === null ? `signal ${q.signal}` : `status ${q.status}`}: ${q.stderr.trim()}`
                : null;

    const g = readGuestOutput(dataText, parsed, results, scenarioTimeout, consoleText);
    const { uname, thp, bootMs, scenarioMs } = g;

    const why =
      g.guestFatal !== null
        ? `guest: ${g.guestFatal}`
        : qemuFailure !== null
          ? qemuFailure
          : !g.allDone
            ? "the guest stopped before running every scenario"
            : "the guest printed no result for it";
    for (const i of runnable) {
      if (results[i] !== null) continue;
      const during = g.running === i ? ` (it was running when the guest stopped${oopsNote(consoleText)})` : "";
      results[i] = { error: `boot: no result: ${why}${during}; kernel console tail:\n${tail(consoleText, 20)}` };
    }
    if (results.some((r) => r !== null && "error" in r)) keep = keep || process.env.VMASIM_BOOT_KEEP === "1";
    return {
      results: results as BootResult[],
      uname,
      thp,
      accel,
      kvmFallback,
      bootMs,
      scenarioMs,
      wallMs,
      prepareMs,
      console: consoleText,
      workDir: keep ? work : null,
    };
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

function tail(text: string, n: number): string {
  return text.replace(/\r/g, "").trimEnd().split("\n").slice(-n).join("\n");
}

function oopsNote(consoleText: string): string {
  const m = /^.*(BUG:|Oops|Kernel panic|general protection fault).*$/m.exec(consoleText.replace(/\r/g, ""));
  return m ? `; kernel console: ${m[0].trim()}` : "";
}

/** bootAndRun's per-scenario results: report lines, or an error. */
export function runOnBootedKernel(image: KernelImage, texts: readonly string[], opts: BootOptions = {}): BootResult[] {
  return bootAndRun(image, texts, opts).results;
}
