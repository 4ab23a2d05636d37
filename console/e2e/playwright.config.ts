// Playwright on Debian's Chromium (never a downloaded browser). One worker: the scenarios share servers, a
// sync may run once at a time, and the machine has two cores. Traces and screenshots of failures go to
// target/e2e/results/.
import { defineConfig } from "@playwright/test";

import { chromiumPath } from "./support/browser";

export default defineConfig({
  testDir: "tests",
  globalSetup: "./global-setup.ts",
  outputDir: "../../target/e2e/results",
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: chromiumPath },
    viewport: { width: 1280, height: 800 },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    actionTimeout: 10_000,
  },
});
