/**
 * Running the guest: whether KVM is usable, qemu under its watchdog, and
 * bootAndRun, which boots the kernel once, runs every scenario in it and
 * turns the guest's serial output into per-scenario reports.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants as fsConstants, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { parseScenario } from "../../scenario/parse.js";
import type { BootOptions, BootResult, BootRun, KernelImage } from "../boot.js";
import { report, translate } from "../live.js";
import { bootAvailable } from "./available.js";
import { initramfs, type Parsed } from "./initramfs.js";
import { describe, mustRun, projectRoot, run, which } from "./util.js";

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
