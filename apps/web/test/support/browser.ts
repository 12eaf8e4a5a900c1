import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

const WEB_DIR = fileURLToPath(new URL("../..", import.meta.url));
const REPO_DIR = path.resolve(WEB_DIR, "../..");
const SCREENSHOT_DIR = path.join(REPO_DIR, "artifacts", "screenshots");

function newestMtime(entry: string): number {
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(entry).map((name) => newestMtime(path.join(entry, name))));
}

/**
 * The production build of the console, as the API serves it. `apps/web/dist` is reused when it is
 * newer than every source file; otherwise the console is built once (about 2 s).
 */
export function builtConsole(): string {
  const dist = path.join(WEB_DIR, "dist");
  const sources = ["src", "index.html", "vite.config.ts", "package.json"].map((p) => path.join(WEB_DIR, p));
  let fresh = false;
  try {
    fresh = statSync(path.join(dist, "index.html")).mtimeMs > Math.max(...sources.map(newestMtime));
  } catch {
    fresh = false;
  }
  if (!fresh) {
    execFileSync("npx", ["vite", "build", "--logLevel", "error"], { cwd: WEB_DIR, stdio: "inherit" });
  }
  return dist;
}

export interface RunningBrowser {
  browser: Browser;
  /** A fresh, isolated browser profile-like context (own cookies) at 1280×720, German. */
  context(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Debian's Chromium, headless. `launch()` gives the browser a fresh temporary profile directory of its
 * own (Playwright refuses an explicit `--user-data-dir` here), removed again on close.
 */
export async function launchBrowser(): Promise<RunningBrowser> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // German UI strings in native controls (time and date pickers), as on the bank's PCs.
      "--lang=de-DE",
    ],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async context() {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 720 },
        locale: "de-DE",
        timezoneId: "Europe/Berlin",
      });
      contexts.push(context);
      return context;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}

/** Problems the page reports (CSP violations, uncaught errors) — a strict-CSP console must have none. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && /Content Security Policy|Refused to/i.test(text)) {
      problems.push(`console: ${text}`);
    }
  });
  return problems;
}

export const byTestId = (id: string) => `[data-testid="${id}"]`;

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Signs in through the login form and waits for the signed-in shell. */
export async function signIn(page: Page, baseUrl: string, email: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/#/login`);
  await page.fill(byTestId("login-email"), email);
  await page.fill(byTestId("login-password"), password);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/v1/auth/login") && r.status() === 200),
    page.click(byTestId("login-submit")),
  ]);
  await page.waitForSelector(byTestId("current-user"));
}

/** Sets the presence switch and waits until the server stored it. */
export async function setPresence(page: Page, status: "online" | "away" | "offline"): Promise<void> {
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/v1/me/presence") && r.status() === 200),
    page.selectOption(byTestId("presence-switch"), status),
  ]);
}
