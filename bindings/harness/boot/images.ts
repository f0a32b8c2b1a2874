/**
 * Kernel images: the kernel cache, the release string of a bzImage, and
 * fetching a Debian linux-image package (name or glob, resolved with
 * apt-cache, downloaded with apt-get, extracted with dpkg-deb) or taking a
 * vmlinuz path as it is.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { KernelImage } from "../boot.js";
import { describe, mustRun, run, which } from "./util.js";

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
