/**
 * The command line (build/js/bindings/cli/main.js) as a user runs it: help,
 * exit codes, error messages that name the line and carry no stack trace,
 * standard input, and `compare` on the seed case.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "build/js/bindings/cli/main.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8", input, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir = "";
function scenario(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Exit code 2, a message on stderr containing every piece, no stack trace, nothing on stdout. */
function usageFailure(r: Run, ...pieces: string[]): void {
  expect(r.code, r.stderr).toBe(2);
  for (const p of pieces) expect(r.stderr).toContain(p);
  expect(r.stderr).not.toContain("    at ");
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stdout).toBe("");
}

const SEED = [
  "# the seed case",
  "prctl memory_merge 1",
  "mmap 0x100000000000 8p rw- private|anon|fixed",
  "mmap 0x100000008000 8p rw- private|anon|fixed",
  "vmflags",
  "count",
  "",
].join("\n");

beforeAll(() => {
  const b = spawnSync(process.execPath, [join(ROOT, "scripts/build.mjs"), "--if-needed"], { cwd: ROOT, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
  dir = mkdtempSync(join(tmpdir(), "vmasim-cli-"));
}, 300_000);

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("help", () => {
  it("--help, -h, help and no arguments print the overview and exit 0", () => {
    for (const args of [["--help"], ["-h"], ["help"], []]) {
      const r = cli(args);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout).toContain("usage: vmasim COMMAND");
      expect(r.stderr).toBe("");
    }
  });

  it("every command listed in the overview has its own --help, exit 0", () => {
    const overview = cli(["--help"]).stdout;
    const section = overview.split("commands:")[1] ?? "";
    const commands = [...section.matchAll(/^ {2}([a-z][a-z-]*)(?= )/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(["run", "compare", "kernel", "verify", "showcase", "stress", "ksm-report"]));
    for (const c of commands) {
      for (const flag of ["--help", "-h"]) {
        const r = cli([c, flag]);
        expect(r.code, `${c} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout, c).toMatch(new RegExp(`usage: vmasim ${c}\\b`));
      }
    }
  });
});

describe("errors: exit code 2, a message, no stack trace", () => {
  it("an unknown command", () => {
    usageFailure(cli(["frobnicate"]), "frobnicate");
  });

  it("a bad number names the line and the word", () => {
    const f = scenario("badnum.vms", "# c\n\nmmap 0x100000000000 12q rw- private|anon|fixed\nmaps\n");
    usageFailure(cli(["run", f]), "line 3", "'12q'");
  });

  it("a missing argument names the line", () => {
    const f = scenario("missing.vms", "maps\nmunmap 0x100000000000\n");
    usageFailure(cli(["run", f]), "line 2", "missing argument");
  });

  it("an unknown scenario command names the line", () => {
    const f = scenario("unknown.vms", "echo a\n\n\nmapz\n");
    usageFailure(cli(["run", f]), "line 4", "mapz");
  });

  it("an unknown file name in mmap names the line and the name", () => {
    const f = scenario("nofile.vms", "file f 4K\nmmap 0x100000000000 1p rw- private|fixed nofile\n");
    usageFailure(cli(["run", f]), "line 2", "nofile");
  });

  it("compare reports a malformed scenario the same way", () => {
    const f = scenario("badcmp.vms", "maps\nmmap 0x100000000000\n");
    usageFailure(cli(["compare", f, "--kernel", "6.16", "--kernel", "6.18"]), "line 2");
  });

  it("an unreadable file (missing, or a directory) names the file", () => {
    const missing = join(dir, "does-not-exist.vms");
    usageFailure(cli(["run", missing]), "does-not-exist.vms");
    usageFailure(cli(["run", dir]), dir);
    usageFailure(cli(["compare", missing]), "does-not-exist.vms");
  });

  it("wrong command-line arguments", () => {
    const f = scenario("ok.vms", "count\n");
    usageFailure(cli(["run"]));
    usageFailure(cli(["run", f, f]));
    usageFailure(cli(["run", f, "--bogus"]), "bogus");
    usageFailure(cli(["run", f, "--engine", "c"]), "'c'");
    usageFailure(cli(["compare", f, "--kernel", "6.18"]), "two");
  });

  it("an unknown --kernel version names it", () => {
    const f = scenario("ok2.vms", "count\n");
    usageFailure(cli(["run", f, "--kernel", "9.99"]), "'9.99'");
    usageFailure(cli(["compare", f, "--kernel", "6.16", "--kernel", "9.99"]), "'9.99'");
  });

  it("a bad --set switch names it", () => {
    const f = scenario("ok3.vms", "count\n");
    usageFailure(cli(["run", f, "--set", "bogus=on"]), "'bogus=on'");
    usageFailure(cli(["run", f, "--set", "ksmEarly=perhaps"]), "'ksmEarly=perhaps'");
  });
});

describe("run", () => {
  it("runs a file and prints the report", () => {
    const f = scenario("seed.vms", SEED);
    const r = cli(["run", f]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("100000000000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg\nvmas 1\n");
    expect(r.stderr).toBe("");
  });

  it("'run -' reads the scenario from standard input", () => {
    const r = cli(["run", "-"], "mmap 0x100000000000 2p r-- private|anon|fixed\nmaps\nmunmap 0x100000000001 1p\n");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("100000000000-100000002000 r--p 00000000\n! 3 munmap EINVAL\n");
  });

  it("'run -' with a malformed line on standard input names the line", () => {
    usageFailure(cli(["run", "-"], "count\nbogus 1\n"), "line 2");
  });

  it("--kernel and --set change the behaviour", () => {
    const f = scenario("seed2.vms", SEED);
    expect(cli(["run", f, "--kernel", "6.16"]).stdout.trimEnd().split("\n").at(-1)).toBe("vmas 2");
    expect(cli(["run", f, "--set", "ksmEarly=off"]).stdout.trimEnd().split("\n").at(-1)).toBe("vmas 2");
    expect(cli(["run", f, "--kernel", "6.17"]).stdout.trimEnd().split("\n").at(-1)).toBe("vmas 1");
  });
});

describe("compare", () => {
  it("prints both kernels side by side: the seed case is 2 VMAs on 6.16 and 1 on 6.18, all mg", () => {
    const f = scenario("seed3.vms", SEED);
    const r = cli(["compare", f, "--kernel", "6.16", "--kernel", "6.18"]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.replace(/\n$/, "").split("\n");
    expect(header).toMatch(/^kernel 6\.16\b/);
    const k = header!.indexOf("kernel 6.18");
    expect(k).toBeGreaterThan(0);
    // Each row: the 6.16 cell padded to the column, a separator, the 6.18 cell.
    const left = rows.map((row) => row.slice(0, k).replace(/\s*\|{1,2}\s*$/, "").trimEnd());
    const right = rows.map((row) => row.slice(k).trim());
    const vmaLine = /^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 \| rd wr mr mw me ac mg$/;
    expect(left.filter((l) => vmaLine.test(l))).toEqual([
      "100000000000-100000008000 rw-p 00000000 | rd wr mr mw me ac mg",
      "100000008000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg",
    ]);
    expect(right.filter((l) => vmaLine.test(l))).toEqual(["100000000000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg"]);
    expect(left).toContain("vmas 2");
    expect(right).toContain("vmas 1");
    expect(r.stderr).toBe("");
  });
});
