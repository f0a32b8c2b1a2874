/**
 * What the side-by-side tools (bench/ab.ts, bench/ksm-ab.ts) and the table
 * (bench/run.ts) share: the Wasm builds named on the command line, and the
 * median they report.
 */
import { readFileSync } from "node:fs";

/** The .wasm files named after `npm run <script> --`, read; exits with the usage if there are none. */
export function buildsFromArgv(script: string): { file: string; wasm: Buffer }[] {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error(`usage: npm run ${script} -- A.wasm [B.wasm ...]`);
    process.exit(2);
  }
  return files.map((file) => ({ file, wasm: readFileSync(file) }));
}

/** The middle value (the upper one of an even count). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
