import { createServer, type Server } from "node:http";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type FullSystem, startFullSystem } from "../../../test/support/full-system";
import { onboardBank, PASSWORD, providerClient, uniqueDigits } from "../../../test/support/system";
import {
  builtConsole,
  byTestId,
  launchBrowser,
  type RunningBrowser,
  screenshot,
  signIn,
  watchProblems,
} from "./support/browser";

// The bank admin's Webhooks section against the whole system: register an endpoint (secret shown once),
// see its deliveries arrive at a real receiver, edit its events, rotate its secret, resend a delivery —
// and an http:// address outside this machine refused with the reason beside the field.

let system: FullSystem;
let browser: RunningBrowser;
let receiver: Server;
let receiverUrl: string;
const received: { id: string; body: string }[] = [];
const problems: string[][] = [];

beforeAll(async () => {
  const dist = builtConsole();
  system = await startFullSystem({ webDist: dist, env: { BANK_WEBHOOK_BACKOFF_BASE_MS: "200" } });
  browser = await launchBrowser();
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      received.push({ id: String(req.headers["webhook-id"]), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/kanal`;
});

afterAll(async () => {
  await browser?.close();
  await system?.close();
  await new Promise((r) => receiver?.close(r));
  expect(problems.flat()).toEqual([]);
});

async function newPage(): Promise<Page> {
  const context = await browser.context();
  const page = await context.newPage();
  problems.push(watchProblems(page));
  return page;
}

describe("Webhooks (bank admin)", () => {
  it("registers an endpoint, shows its secret once, logs deliveries, edits, rotates and resends; refuses plain http", async () => {
    const bank = await onboardBank(system, await providerClient(system));
    const page = await newPage();
    await signIn(page, system.apiUrl, bank.adminEmail, PASSWORD);
    await page.click(byTestId("admin-nav-webhooks"));
    await page.waitForSelector(byTestId("webhook-form"));

    // Refused: plain http to another host; the reason stands beside the field, nothing is created.
    await page.fill(byTestId("webhook-url"), "http://core.sparkasse.example/hook");
    await page.click(byTestId("webhook-create"));
    await page.waitForSelector("text=Nur HTTPS-Adressen");
    expect(await page.locator(byTestId("webhook-row")).count()).toBe(0);

    // Created: the secret is shown once, with a copy button.
    await page.fill(byTestId("webhook-url"), receiverUrl);
    await page.click(byTestId("webhook-create"));
    const secret = (await page.locator(byTestId("webhook-secret")).textContent()) ?? "";
    expect(secret).toMatch(/^whsec_/);
    await screenshot(page, "admin-webhook-secret-once");
    await page.click(`${byTestId("webhook-secret-dialog")} button.primary`);
    await page.locator(byTestId("webhook-secret-dialog")).waitFor({ state: "detached" });
    await page.waitForSelector(`${byTestId("webhook-row")}[data-state="enabled"]`);
    expect(await page.content()).not.toContain(secret);

    // A customer writes: the delivery reaches the receiver and shows in the log.
    const answer = await system.simPost<{ webhookStatus: number }>("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: uniqueDigits(12),
      name: "Erika",
      text: "Hallo Sparkasse",
    });
    expect(answer.webhookStatus).toBe(200);
    await eventually(async () => received.length >= 1);
    await page.click(byTestId("webhook-deliveries-toggle"));
    await page.waitForSelector(`${byTestId("webhook-delivery-row")}[data-status="delivered"]`);
    await screenshot(page, "admin-webhook-deliveries");

    // Edit the events.
    await page.click(byTestId("webhook-edit"));
    await page.check(byTestId("webhook-edit-event-conversation.closed"));
    await page.click(byTestId("webhook-edit-save"));
    await page.waitForSelector(`${byTestId("webhook-row")}:has-text("conversation.closed")`);

    // Rotate: a new secret, shown once; the row tells until when the previous one signs too.
    await page.click(byTestId("webhook-rotate"));
    await page.click(byTestId("webhook-rotate-confirm"));
    const rotated = (await page.locator(byTestId("webhook-secret")).textContent()) ?? "";
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await page.click(`${byTestId("webhook-secret-dialog")} button.primary`);
    await page.waitForSelector(`${byTestId("webhook-row")}:has-text("Bisheriges Geheimnis")`);

    // Resend the delivery: the receiver gets the same webhook-id again.
    const before = received.length;
    await page.click(`${byTestId("webhook-delivery-row")} button`);
    await eventually(async () => received.length > before);
    expect(received.at(-1)?.id).toBe(received[0]?.id);

    // Disable: the state shows.
    await page.click(byTestId("webhook-toggle"));
    await page.waitForSelector(`${byTestId("webhook-row")}[data-state="disabled"]`);
    await screenshot(page, "admin-webhooks");
  });
});
