/**
 * The scenario runner (bindings/scenario/run.ts), on both engines
 * (eachEngine, test/support/engines.ts): report formats as the scenario
 * format defines them (docs/scenario-format.md "Reports"),
 * process switching, file names, offsets and max_map_count.
 */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../bindings/scenario/commands.js";
import { runScenario, runScenarioLines } from "../../bindings/scenario/run.js";
import { eachEngine, engine } from "../support/engines.js";

const run = (lines: string[], kernel?: string): string[] =>
  runScenarioLines(lines.join("\n"), kernel === undefined ? { engine: engine() } : { engine: engine(), kernel });

function scenarioError(text: string): ScenarioError {
  try {
    runScenarioLines(text, { engine: engine() });
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error("expected a ScenarioError");
}

const MAPS_RE = /^[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][ps] [0-9a-f]{8,}( .+)?$/;

eachEngine(() => {
  describe("report lines", () => {
    it("maps: START-END PERMS OFFSET, lower-case hex without 0x; anonymous private memory shows offset 0", () => {
      const out = run(["mmap 0x100000000000 8p rw- private|anon|fixed", "mmap 0x1000000a0000 0x3000 r-x private|anon|fixed", "maps"]);
      expect(out).toEqual(["100000000000-100000008000 rw-p 00000000", "1000000a0000-1000000a3000 r-xp 00000000"]);
      for (const l of out) expect(l).toMatch(MAPS_RE);
    });

    it("vmflags: the maps line, ' | ' and the smaps mnemonics in kernel order", () => {
      const out = run([
        "mmap 0x100000000000 8p rw- private|anon|fixed",
        "mmap 0x100000010000 1p r-- private|anon|fixed|noreserve",
        "mmap 0x100000020000 1p rw- shared|anon|fixed",
        "madvise 0x100000000000 8p dontfork",
        "vmflags",
      ]);
      expect(out).toEqual([
        "100000000000-100000008000 rw-p 00000000 | rd wr mr mw me dc ac",
        "100000010000-100000011000 r--p 00000000 | rd mr mw me nr",
        "100000020000-100000021000 rw-s 00000000 /dev/zero (deleted) | rd wr sh mr mw me ms",
      ]);
    });

    it("count: 'vmas N' for the VMAs in the window", () => {
      expect(run(["count"])).toEqual(["vmas 0"]);
      expect(run(["mmap 0x100000000000 1p rw- private|anon|fixed", "mmap 0x100000002000 1p rw- private|anon|fixed", "count"])).toEqual(["vmas 2"]);
    });

    it("echo: the words as a line, single-spaced", () => {
      expect(run(["echo  hello \t  world ", "echo", "echo a # not this"])).toEqual(["hello world", "", "a"]);
    });

    it("a failed call prints '! LINE COMMAND ERRNO' with the 1-based file line, and the scenario goes on", () => {
      const out = run([
        "# header", // 1
        "mmap 0x100000000000 8p rw- private|anon|fixed", // 2
        "", // 3
        "munmap 0x100000000001 1p", // 4
        "mmap 0x100000000000 1p rw- private|anon|fixed_noreplace", // 5
        "mprotect 0x100000010000 1p r--", // 6
        "write 0x100000010000 1p", // 7
        "read 0x100000010000 1p", // 8
        "mremap 0x100000010000 1p 2p maymove", // 9
        "mlock 0x100000010000 1p", // 10
        "munlock 0x100000010000 1p", // 11
        "madvise 0x100000010000 1p dontfork", // 12
        "mmap 0x100000010000 0 rw- private|anon|fixed", // 13
        "mremap 0x100000000000 1p 1p dontunmap", // 14
        "count", // 15
      ]);
      expect(out).toEqual([
        "! 4 munmap EINVAL",
        "! 5 mmap EEXIST",
        "! 6 mprotect ENOMEM",
        "! 7 write EFAULT",
        "! 8 read EFAULT",
        "! 9 mremap EFAULT",
        "! 10 mlock ENOMEM",
        "! 11 munlock ENOMEM",
        "! 12 madvise ENOMEM",
        "! 13 mmap EINVAL",
        "! 14 mremap EINVAL",
        "vmas 1",
      ]);
    });

    it("runScenario joins the lines with a final newline; no output is the empty string", () => {
      expect(runScenario("echo a\necho b", { engine: engine() })).toBe("a\nb\n");
      expect(runScenario("# nothing", { engine: engine() })).toBe("");
      expect(runScenario("mmap 0x100000000000 1p rw- private|anon|fixed", { engine: engine() })).toBe("");
    });
  });

  describe("processes", () => {
    it("process switches address spaces, creating an empty one the first time", () => {
      const out = run([
        "mmap 0x100000000000 2p rw- private|anon|fixed",
        "process other",
        "count",
        "mmap 0x100000010000 1p r-- private|anon|fixed",
        "maps",
        "process main",
        "maps",
        "process other",
        "count",
      ]);
      expect(out).toEqual([
        "vmas 0",
        "100000010000-100000011000 r--p 00000000",
        "100000000000-100000002000 rw-p 00000000",
        "vmas 1",
      ]);
    });

    it("fork copies the current process and makes the child current; the parent is unaffected by the child", () => {
      const out = run([
        "mmap 0x100000000000 2p rw- private|anon|fixed",
        "mmap 0x100000008000 2p rw- private|anon|fixed",
        "madvise 0x100000008000 2p dontfork",
        "fork child",
        "maps",
        "mmap 0x100000002000 2p rw- private|anon|fixed",
        "maps",
        "process main",
        "maps",
        "process child",
        "count",
      ]);
      expect(out).toEqual([
        "100000000000-100000002000 rw-p 00000000",
        "100000000000-100000004000 rw-p 00000000",
        "100000000000-100000002000 rw-p 00000000",
        "100000008000-10000000a000 rw-p 00000000",
        "vmas 1",
      ]);
    });

    it("a forked child of a written VMA keeps it apart from new neighbours (F1)", () => {
      const out = run([
        "mmap 0x100000001000 5p rw- private|anon|fixed",
        "write 0x100000001000 1p",
        "fork child",
        "write 0x100000001000 5p",
        "mmap 0x100000006000 5p rw- private|anon|fixed",
        "count",
        "process main",
        "mmap 0x100000006000 5p rw- private|anon|fixed",
        "count",
      ]);
      expect(out).toEqual(["vmas 2", "vmas 1"]);
    });

    it("fork to a name already in use is not an internal error", () => {
      for (const text of ["fork main", "fork a\nprocess main\nfork a"]) {
        const lastLine = text.split("\n").length;
        let out: string[] | null = null;
        try {
          out = runScenarioLines(text, { engine: engine() });
        } catch (e) {
          expect(e, text).toBeInstanceOf(ScenarioError);
          expect((e as ScenarioError).lineNo).toBe(lastLine);
          continue;
        }
        expect(out.some((l) => l.startsWith(`! ${lastLine} fork `)), text).toBe(true);
      }
    });
  });

  describe("file names and offsets", () => {
    it("a file mapping shows the file's scenario name and the byte offset", () => {
      const out = run([
        "file data 64K",
        "mmap 0x100000000000 2p rw- shared|fixed data 4K",
        "mmap 0x100000004000 1p r-- private|fixed data",
        "maps",
      ]);
      expect(out).toEqual(["100000000000-100000002000 rw-s 00001000 data", "100000004000-100000005000 r--p 00000000 data"]);
    });

    it("shared anonymous memory and shared /dev/zero are '/dev/zero (deleted)'; private /dev/zero keeps its name and offset", () => {
      const out = run([
        "open z /dev/zero",
        "mmap 0x100000000000 2p rw- shared|anon|fixed",
        "mmap 0x100000004000 2p rw- shared|fixed z 8K",
        "mmap 0x100000008000 2p rw- private|fixed z 8K",
        "maps",
      ]);
      expect(out).toEqual([
        "100000000000-100000002000 rw-s 00000000 /dev/zero (deleted)",
        // shmem_zero_setup() replaces the file but keeps vm_pgoff: the offset stays.
        "100000004000-100000006000 rw-s 00002000 /dev/zero (deleted)",
        "100000008000-10000000a000 rw-p 00002000 z",
      ]);
    });

    it("offsets have eight or more hex digits", () => {
      const out = run([
        "file big 16G",
        "mmap 0x100000000000 1p r-- private|fixed big 0x123456000",
        "mmap 0x100000002000 1p r-- private|fixed big 0xfff000",
        "maps",
      ]);
      expect(out).toEqual(["100000000000-100000001000 r--p 123456000 big", "100000002000-100000003000 r--p 00fff000 big"]);
    });

    it("split file mappings advance their offsets (X3)", () => {
      const out = run(["file f 64K", "mmap 0x100000001000 8p rw- private|fixed f 32K", "mprotect 0x100000003000 2p r--", "maps"]);
      expect(out).toEqual([
        "100000001000-100000003000 rw-p 00008000 f",
        "100000003000-100000005000 r--p 0000a000 f",
        "100000005000-100000009000 rw-p 0000c000 f",
      ]);
    });
  });

  describe("the window", () => {
    it("only VMAs entirely inside [0x100000000000, 0x200000000000) are reported or counted", () => {
      const out = run([
        "mmap 0xfffffffe000 4p rw- private|anon|fixed", // straddles the start
        "mmap 0x1ffffffff000 2p rw- private|anon|fixed", // straddles the end
        "mmap 0x300000000000 1p rw- private|anon|fixed", // outside
        "mmap 0x100000004000 1p r-- private|anon|fixed",
        "maps",
        "count",
      ]);
      expect(out).toEqual(["100000004000-100000005000 r--p 00000000", "vmas 1"]);
    });
  });

  describe("max_map_count", () => {
    it("counts the window: mmap may reach N + 1 VMAs there, VMAs outside the window not counted against N", () => {
      const out = run([
        "mmap 0x300000000000 1p rw- private|anon|fixed", // outside the window
        "max_map_count 1",
        "mmap 0x100000000000 1p rw- private|anon|fixed",
        "mmap 0x100000002000 1p rw- private|anon|fixed",
        "mmap 0x100000004000 1p rw- private|anon|fixed",
        "mmap 0x100000001000 1p rw- private|anon|fixed", // would merge: refused all the same
        "count",
      ]);
      expect(out).toEqual(["! 5 mmap ENOMEM", "! 6 mmap ENOMEM", "vmas 2"]);
    });

    it("a split at the limit: madvise EAGAIN, mprotect and mlock ENOMEM, munmap of an interior range ENOMEM", () => {
      const out = run([
        "mmap 0x100000000000 10p rw- private|anon|fixed",
        "max_map_count 1",
        "madvise 0x100000003000 2p dontfork",
        "mprotect 0x100000003000 2p r--",
        "mlock 0x100000003000 2p",
        "munmap 0x100000003000 2p",
        "munmap 0x100000000000 1p",
        "maps",
      ]);
      expect(out).toEqual([
        "! 3 madvise EAGAIN",
        "! 4 mprotect ENOMEM",
        "! 5 mlock ENOMEM",
        "! 6 munmap ENOMEM",
        "100000001000-10000000a000 rw-p 00000000",
      ]);
    });
  });

  describe("kernel versions and malformed input", () => {
    const SEED = [
      "prctl memory_merge 1",
      "mmap 0x100000000000 8p rw- private|anon|fixed",
      "mmap 0x100000008000 8p rw- private|anon|fixed",
      "vmflags",
    ];

    it("the seed case: 6.18 one mg VMA, 6.16 two", () => {
      expect(run(SEED)).toEqual(["100000000000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg"]);
      expect(run(SEED, "6.16")).toEqual([
        "100000000000-100000008000 rw-p 00000000 | rd wr mr mw me ac mg",
        "100000008000-100000010000 rw-p 00000000 | rd wr mr mw me ac mg",
      ]);
      expect(runScenarioLines(SEED.join("\n"), { engine: engine(), set: ["ksmEarly=off"] })).toHaveLength(2);
    });

    it("a malformed line stops the run before anything is printed, naming the line", () => {
      const e = scenarioError("echo first\nmaps\nmmap 0x100000000000 1p\necho never");
      expect(e.lineNo).toBe(3);
      expect(e.message).toContain("line 3");
    });

    it("ksm_scan that ksmd could never finish is a ScenarioError naming its line", () => {
      // run=0 (the default), or run=1 with no process registered with KSM.
      for (const [text, lineNo] of [["echo x\nksm_scan 1", 2], ["ksm run=1\n\nksm_scan 1", 3]] as const) {
        const e = scenarioError(text);
        expect(e.lineNo, text).toBe(lineNo);
        expect(e.message).toContain(`line ${lineNo}`);
      }
    });

    it("ksm knob writes the kernel refuses print its errno and change nothing", () => {
      const lines = runScenarioLines(
        "ksm max_page_sharing=1 run=3 sleep_millisecs=-1 pages_to_scan=0x10 pages_to_scan=0\nmmap 0x100000000000 2p rw- private|anon|fixed\nmadvise 0x100000000000 2p mergeable\nksm_stat",
        { engine: engine() },
      );
      expect(lines.slice(0, 4)).toEqual(["! 1 ksm EINVAL", "! 1 ksm EINVAL", "! 1 ksm EINVAL", "! 1 ksm EINVAL"]);
      expect(lines).toContain("full_scans 0");
    });

    it("ksm_get prints each knob as reading its file shows it, one 'KEY value' line each", () => {
      const lines = run([
        "ksm_get run pages_to_scan advisor_mode",
        "ksm advisor_mode=scan-time advisor_max_cpu=4294967366 run=1",
        "ksm_get advisor_mode pages_to_scan advisor_max_cpu run",
      ]);
      expect(lines).toEqual([
        "run 0", "pages_to_scan 100", "advisor_mode [none] scan-time",
        "advisor_mode none [scan-time]", "pages_to_scan 500", "advisor_max_cpu 70", "run 1",
      ]);
    });
  });
});
