/**
 * The process and path helpers the boot modules share: the project root,
 * finding executables, and running tools with their failures described.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { accessSync, constants as fsConstants, existsSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`boot: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The full path of an executable found in PATH (or the sbin dirs, for mkfs.ext4), or null. */
export function which(name: string): string | null {
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

export function run(cmd: string, args: readonly string[], opts: { cwd?: string; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 1 << 28,
  });
}

export function describe(r: SpawnSyncReturns<string | Buffer>): string {
  if (r.error) return r.error.message;
  const how = r.status === null ? `killed by ${r.signal}` : `exit status ${r.status}`;
  const out = `${String(r.stdout ?? "")}${String(r.stderr ?? "")}`.trim();
  return out === "" ? how : `${how}: ${out.split("\n").slice(-15).join("\n")}`;
}

export function mustRun(what: string, cmd: string, args: readonly string[], opts: { cwd?: string; input?: string } = {}): string {
  const r = run(cmd, args, opts);
  if (r.error || r.status !== 0) throw new Error(`boot: ${what} failed (${cmd} ${args.join(" ")}): ${describe(r)}`);
  return r.stdout;
}
