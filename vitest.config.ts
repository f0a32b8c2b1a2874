import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

export default defineConfig({
  test: {
    // Live-kernel tests are slow (KSM scans, big mappings).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Live-kernel tests share machine-wide KSM state (/sys/kernel/mm/ksm):
    // run one test file at a time (this also forces maxWorkers to 1).
    fileParallelism: false,
    // "default" first: the summary reporter's line must be the last output.
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          environment: "node",
        },
      },
      // The same tests in a real Chromium page (Debian's chromium, driven by
      // Playwright; no browser download). Node-only tests (*.node.test.ts:
      // live kernel, CLI, files) stay in the node project.
      {
        extends: true,
        test: {
          name: "browser",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.node.test.ts"],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
                args: [
                  "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                ],
              },
            }),
            instances: [{ browser: "chromium" }],
          },
        },
      },
    ],
  },
});
