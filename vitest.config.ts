import { defineConfig } from "vitest/config";
// For the future browser project:
// import { playwright } from "@vitest/browser-playwright";

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
      // Future: the same tests in Chromium (toolchain notes §5.2).
      // Needs devDependencies @vitest/browser-playwright@4.1.12 (exactly vitest's
      // version) + playwright@1.65.1, and Debian `chromium` (see .ci/run).
      // {
      //   extends: true,
      //   test: {
      //     name: "browser",
      //     include: ["test/**/*.test.ts"],
      //     // live-kernel and other Node-only tests:
      //     exclude: ["test/**/*.node.test.ts"],
      //     browser: {
      //       enabled: true,
      //       headless: true,
      //       provider: playwright({
      //         launchOptions: {
      //           executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      //           args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      //                  "--disable-component-update", "--disable-sync", "--no-first-run"],
      //         },
      //       }),
      //       instances: [{ browser: "chromium" }],
      //     },
      //   },
      // },
    ],
  },
});
