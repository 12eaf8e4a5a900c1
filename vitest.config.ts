import { existsSync } from "node:fs";
import { configDefaults, defineConfig } from "vitest/config";

// Browser tests drive Debian's Chromium. CI installs it (.ci/run) and always runs them; a developer
// machine without it still runs everything else and is told how to get it.
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const runBrowserTests = existsSync(chromium) || Boolean(process.env.CI);
if (!runBrowserTests) {
  console.warn(
    `\nBrowser tests skipped: ${chromium} not found (apt-get install -y chromium, or set CHROMIUM_PATH).\n`,
  );
}

// Four projects: pure unit tests (no services), integration tests against real Postgres/Redis/simulator,
// the fault suite on its own Postgres and Redis, and browser tests against the whole running system.
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
          exclude: [...configDefaults.exclude, "test/faults/**"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Faults under load (Postgres and Redis restarts, killed processes, shutdown deadlines) on the
        // suite's own Postgres cluster and Redis server, never the shared ones. It runs after the other
        // projects (groupOrder), one file at a time: it loads the machine on purpose.
        test: {
          name: "faults",
          include: ["test/faults/**/*.int.test.ts"],
          globalSetup: ["test/faults/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
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
