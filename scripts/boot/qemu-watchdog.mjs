#!/usr/bin/env node
// Runs qemu for bindings/harness/boot/qemu.ts and kills it when the guest stops
// making progress, so that a synchronous caller (spawnSync) never waits for
// the overall timeout on a guest that is already dead.
//
// Usage: node qemu-watchdog.mjs CONFIG_JSON
//   CONFIG_JSON: {"argv": [qemu, args...], "progress": [files...],
//                 "stallSec": N, "totalSec": N}
// qemu is SIGKILLed when
//   - its stderr reports a KVM internal error (qemu would pause the VM and
//     wait forever; seen with nested "kvm-pvm" hosts),       reason "kvm-error"
//   - none of the progress files (the serial logs) has grown for stallSec, reason "stalled"
//   - it has run for totalSec,                                 reason "timeout"
// Prints one JSON line on stdout when qemu is gone:
//   {"status": N|null, "signal": S|null, "reason": R|null, "stderr": "...", "ms": N}
import { spawn } from "node:child_process";
import { statSync } from "node:fs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const [cmd, ...args] = cfg.argv;
const started = Date.now();
let stderr = "";
let reason = null;
let lastSize = -1;
let lastChange = started;

const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
child.stderr.setEncoding("utf8");
child.stderr.on("data", (d) => {
  if (stderr.length < 1 << 20) stderr += d;
  if (reason === null && /KVM internal error|emulation failure/.test(stderr)) kill("kvm-error");
});

function kill(why) {
  if (reason === null) reason = why;
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
}

const size = () => {
  let n = 0;
  for (const f of cfg.progress ?? []) {
    try {
      n += statSync(f).size;
    } catch {
      // not created yet
    }
  }
  return n;
};

const timer = setInterval(() => {
  const now = Date.now();
  const s = size();
  if (s !== lastSize) {
    lastSize = s;
    lastChange = now;
  }
  if (now - lastChange >= cfg.stallSec * 1000) kill("stalled");
  else if (now - started >= cfg.totalSec * 1000) kill("timeout");
}, 200);

for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => {
    kill("signal");
  });
}

child.on("error", (e) => {
  stderr += `\n${e.message}`;
});
child.on("close", (status, signal) => {
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ status, signal, reason, stderr, ms: Date.now() - started }) + "\n");
});
