/**
 * The package as an embedder installs it: package.json "exports" resolve
 * (`import("vmasim")` from a plain Node process, as a dependent's code
 * would), and the rollup bundle (rollup.config.mjs → dist/index.js, the
 * Wasm engine embedded, @assemblyscript/loader its one import, nothing from
 * node:) gives the source entry's reports.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { rollup } from "rollup";
import { describe, expect, it } from "vitest";
import { runScenarioLines } from "../../bindings/index.js";
import { PACKAGE_SCENARIO } from "./scenario.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("the package", () => {
  it('package.json "exports" resolve from a plain Node process (import("vmasim"))', () => {
    const code = `const m = await import("vmasim"); console.log(JSON.stringify(m.runScenarioLines(${JSON.stringify(PACKAGE_SCENARIO)}, { engine: "wasm" })));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(runScenarioLines(PACKAGE_SCENARIO, { engine: "wasm" }));
  });

  it('"dependencies" are exactly the packages the shipped code (library and CLI) imports; test tools stay dev-only', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const files = (readdirSync(join(ROOT, "bindings"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts"));
    const imported = new Set<string>();
    for (const f of files) {
      for (const m of readFileSync(join(ROOT, "bindings", f), "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?\sfrom\s+"([^"]+)"/gm)) {
        const spec = m[1]!;
        if (spec.startsWith(".") || spec.startsWith("node:")) continue;
        imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
    expect([...imported].sort()).toEqual(Object.keys(pkg.dependencies).sort());
    for (const dev of ["vitest", "@vitest/browser-playwright", "playwright", "playwright-core", "assemblyscript", "rollup", "tinybench", "fast-check"]) {
      expect(pkg.dependencies[dev], dev).toBeUndefined();
    }
  });

  it("the rollup bundle (dist/index.js) imports only the loader and gives the same reports", async () => {
    const config = (await import(pathToFileURL(join(ROOT, "rollup.config.mjs")).href)).default;
    const bundle = await rollup({ ...config, input: join(ROOT, config.input) });
    try {
      await bundle.write({ ...config.output, file: join(ROOT, config.output.file) });
    } finally {
      await bundle.close();
    }
    const file = join(ROOT, config.output.file);
    const imports = [...readFileSync(file, "utf8").matchAll(/^import .* from ['"]([^'"]+)['"];?$/gm)].map((m) => m[1]);
    expect(imports).toEqual(["@assemblyscript/loader"]);
    const dist = await import(`${pathToFileURL(file).href}?t=${Date.now()}`);
    for (const engine of ["wasm", "ts"] as const) {
      expect(dist.runScenarioLines(PACKAGE_SCENARIO, { engine })).toEqual(runScenarioLines(PACKAGE_SCENARIO, { engine }));
    }
  });
});
