import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// Browser tests drive Debian's Chromium. CI installs it (.ci/run) and always runs them; a developer
// machine without it still runs everything else and is told how to get it.
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const runBrowserTests = existsSync(chromium) || Boolean(process.env.CI);
if (!runBrowserTests) {
  console.warn(
    `\nBrowser tests skipped: ${chromium} not found (apt-get install -y chromium, or set CHROMIUM_PATH).\n`,
  );
}

// Three projects: pure unit tests (no services), integration tests against real
// Postgres/Redis/simulator, and browser tests against the whole running system.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.unit.test.ts", "apps/*/test/**/*.unit.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: [
            "packages/*/test/**/*.int.test.ts",
            "apps/*/test/**/*.int.test.ts",
            "test/**/*.int.test.ts",
          ],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      ...(runBrowserTests
        ? [
            {
              test: {
                name: "browser",
                include: ["apps/web/test/**/*.e2e.test.ts"],
                globalSetup: ["test/global-setup.ts"],
                testTimeout: 120_000,
                hookTimeout: 180_000,
                fileParallelism: false,
              },
            },
          ]
        : []),
    ],
  },
});
