import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createProviderAdmin } from "@kanal/core/people";
import { sql } from "@kanal/db";
import {
  eventually,
  type FullSystem,
  seedTemplates,
  startFullSystem,
} from "../../../test/support/full-system";
import {
  addBankUser,
  type Bank,
  onboardBank,
  PASSWORD,
  providerClient,
  type TestClient,
  unique,
  uniqueDigits,
} from "../../../test/support/system";
import {
  builtConsole,
  byTestId,
  launchBrowser,
  type RunningBrowser,
  screenshot,
  setPresence,
  signIn,
  watchProblems,
} from "./support/browser";

// The whole system as in production (API serving the built console, simulator, workers, Postgres,
// Redis), driven through Debian's Chromium like an agent, a bank admin and the provider would.

let system: FullSystem;
let browser: RunningBrowser;
let provider: TestClient;
let base: string;
/** What each page reported (CSP violations, uncaught errors); checked at the end of the run. */
const pageProblems: string[][] = [];

const ALL_DAY = [["00:00", "24:00"]];
const ALWAYS_OPEN = {
  mon: ALL_DAY,
  tue: ALL_DAY,
  wed: ALL_DAY,
  thu: ALL_DAY,
  fri: ALL_DAY,
  sat: ALL_DAY,
  sun: ALL_DAY,
};

const openPages: Page[] = [];

async function newPage(): Promise<Page> {
  const context = await browser.context();
  const page = await context.newPage();
  openPages.push(page);
  pageProblems.push(watchProblems(page));
  return page;
}

/** A customer writes to the bank through the simulator (signed webhook to the API, as Meta would). */
async function customerWrites(bank: Bank, waId: string, name: string, text: string) {
  const answer = await system.simPost<{ webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name,
    text,
  });
  expect(answer.webhookStatus).toBe(200);
}

async function conversationOf(bank: Bank, waId: string): Promise<string> {
  return eventually(async () => {
    const row = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .where("c.status", "<>", "closed")
      .executeTakeFirst();
    return row?.id;
  });
}

async function sentTo(waId: string) {
  const answer = await system.simGet<{
    messages: {
      type: string;
      body: {
        text?: { body: string };
        template?: { name: string; components?: { type: string; parameters: { text?: string }[] }[] };
      };
    }[];
  }>(`/_sim/sent?to=${waId}`);
  return answer.messages;
}

/** A bank whose own agents take every chat, at any hour (service hours 00:00–24:00 every day). */
async function inHouseBank(): Promise<Bank> {
  const bank = await onboardBank(system, provider);
  const res = await bank.admin.put(`/v1/tenants/${bank.slug}/routing`, {
    mode: "in_house",
    serviceHours: ALWAYS_OPEN,
    observePublicHolidays: false,
  });
  expect(res.status).toBe(200);
  return bank;
}

beforeAll(async () => {
  const dist = builtConsole();
  system = await startFullSystem({ webDist: dist });
  base = system.apiUrl;
  provider = await providerClient(system);
  browser = await launchBrowser();
});

// A failed step leaves a picture of every open page behind, so the failure can be seen.
afterEach(async (context) => {
  if (context.task.result?.state !== "fail") return;
  for (const [index, page] of openPages.entries()) {
    if (!page.isClosed()) await screenshot(page, `failed-${context.task.name.slice(0, 40)}-${index}`);
  }
});

afterAll(async () => {
  await browser?.close();
  await system?.close();
  // No CSP violation or uncaught error on any page of the run.
  expect(pageProblems.flat()).toEqual([]);
});

describe("provider console", () => {
  it("onboards a bank through the wizard, with errors shown at the field", async () => {
    const email = `${unique("provider")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "Paula Provider", password: PASSWORD });
    const page = await newPage();
    await signIn(page, base, email, PASSWORD);
    await page.waitForSelector(byTestId("tenant-new"));

    await page.click(byTestId("tenant-new"));
    await page.waitForSelector(byTestId("onboarding-wizard"));
    const slug = unique("wiz-");
    await page.fill(byTestId("wizard-slug"), slug);
    await page.fill(byTestId("wizard-name"), `Sparkasse ${slug}`);
    await page.click(byTestId("wizard-next"));
    // A phone number id Meta would never issue: the server refuses it and the wizard shows it there.
    await page.fill(byTestId("wizard-whatsapp-phoneNumberId"), "not-a-number");
    await page.fill(byTestId("wizard-whatsapp-wabaId"), uniqueDigits(15));
    await page.fill(byTestId("wizard-whatsapp-displayPhoneNumber"), "+49 89 7654321");
    await page.fill(byTestId("wizard-whatsapp-accessToken"), `EAAG${uniqueDigits(30)}`);
    await page.click(byTestId("wizard-next"));
    await page.fill(byTestId("wizard-admin-email"), `admin@${slug}.test`);
    await page.fill(byTestId("wizard-admin-name"), "Anna Admin");
    await page.fill(byTestId("wizard-admin-password"), PASSWORD);
    await page.click(byTestId("wizard-next"));
    await page.waitForSelector(byTestId("wizard-review"));
    await screenshot(page, "provider-wizard-review");
    await page.click(byTestId("wizard-submit"));

    const phoneField = page.locator(byTestId("wizard-whatsapp-phoneNumberId"));
    await phoneField.waitFor();
    await expect.poll(() => phoneField.getAttribute("aria-invalid")).toBe("true");
    await screenshot(page, "provider-wizard-field-error");

    const phoneNumberId = uniqueDigits(15);
    await phoneField.fill(phoneNumberId);
    await page.click(byTestId("wizard-next"));
    await page.click(byTestId("wizard-next"));
    await page.waitForSelector(byTestId("wizard-review"));
    await page.click(byTestId("wizard-submit"));
    await page.waitForSelector(byTestId("wizard-created"));

    const tenant = await system.services.db
      .withSchema("control")
      .selectFrom("tenants")
      .select(["slug", "name"])
      .where("slug", "=", slug)
      .executeTakeFirst();
    expect(tenant?.name).toBe(`Sparkasse ${slug}`);

    await page.click(byTestId("provider-nav-tenants"));
    await page.waitForSelector(`${byTestId("tenant-row")}:has-text("${slug}")`);
    await screenshot(page, "provider-tenants");
  });
});

describe("bank admin portal", () => {
  it("sets hours_outsourcing and adds an agent who can then sign in", async () => {
    const bank = await onboardBank(system, provider);
    // Hours outsourcing sends the closed hours to a contact centre, so the bank needs one under contract.
    const ksc = unique("ksc-");
    expect((await provider.post("/v1/ksc-orgs", { slug: ksc, name: `KSC ${ksc}` })).status).toBe(201);
    expect((await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: ksc })).status).toBe(200);

    const page = await newPage();
    await signIn(page, base, bank.adminEmail, PASSWORD);
    await page.waitForSelector(byTestId("users-table"));

    await page.click(byTestId("admin-nav-routing"));
    await page.waitForSelector(byTestId("routing-form"));
    await page.selectOption(byTestId("routing-mode"), "hours_outsourcing");
    const [saved] = await Promise.all([
      page.waitForResponse(
        (r) => r.url().endsWith(`/v1/tenants/${bank.slug}/routing`) && r.request().method() === "PUT",
      ),
      page.click(byTestId("routing-save")),
    ]);
    expect(saved.status()).toBe(200);
    await page.waitForSelector(`${byTestId("toast")}:has-text("Gespeichert")`);
    // The holidays preview lists the state's public holidays (Bavaria has a dozen every year).
    await page.click(`${byTestId("holidays-preview")} summary`);
    await page.waitForSelector(byTestId("holiday"));
    await screenshot(page, "admin-routing");
    const routing = await bank.admin.get<{ routing: { mode: string } }>(`/v1/tenants/${bank.slug}/routing`);
    expect(routing.body.routing.mode).toBe("hours_outsourcing");

    await page.click(byTestId("admin-nav-users"));
    await page.click(byTestId("user-new"));
    await page.waitForSelector(byTestId("user-dialog"));
    const email = `${unique("agent")}@${bank.slug}.test`;
    await page.fill(byTestId("user-email"), email);
    await page.fill(byTestId("user-name"), "Bernd Berater");
    await page.selectOption(byTestId("user-role"), "bank_agent");
    await page.fill(byTestId("user-password"), PASSWORD);
    await page.click(byTestId("user-save"));
    await page.waitForSelector(`${byTestId("user-row")}:has-text("${email}")`);
    await screenshot(page, "admin-users");

    const agent = await fetch(`${base}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(agent.status).toBe(200);

    await page.click(byTestId("admin-nav-snippets"));
    await page.click(byTestId("snippet-new"));
    await page.waitForSelector(byTestId("snippet-dialog"));
    await page.fill(byTestId("snippet-shortcut"), "/oeffnung");
    await page.fill(byTestId("snippet-title"), "Öffnungszeiten");
    await page.fill(
      byTestId("snippet-body"),
      "Guten Tag {{customer.name}}, wir sind Mo–Fr 8–18 Uhr für Sie da.",
    );
    await page.click(byTestId("snippet-save"));
    await page.waitForSelector(`${byTestId("snippet-row")}:has-text("/oeffnung")`);

    await page.click(byTestId("admin-nav-profile"));
    await page.fill(byTestId("profile-about"), "Ihre Sparkasse auf WhatsApp");
    await Promise.all([
      page.waitForResponse(
        (r) =>
          r.url().endsWith(`/v1/tenants/${bank.slug}/whatsapp/profile`) &&
          r.request().method() === "PUT" &&
          r.ok(),
      ),
      page.click(byTestId("profile-save")),
    ]);

    // An API key's secret is shown exactly once, right after creation.
    await page.click(byTestId("admin-nav-api-keys"));
    await page.fill(byTestId("api-key-name"), "Kernbanksystem");
    // The core banking system also sends notifications with it (scope `notifications`).
    await page.check(byTestId("api-key-notifications"));
    await page.click(byTestId("api-key-create"));
    const secret = await page.locator(byTestId("api-key-secret")).textContent();
    expect(secret?.trim().length).toBeGreaterThan(20);
    const keyCheck = await fetch(`${base}/v1/tenants/${bank.slug}/customers?q=x`, {
      headers: { authorization: `Bearer ${secret?.trim()}` },
    });
    expect(keyCheck.status).toBe(200);
    const templates = await fetch(`${base}/v1/tenants/${bank.slug}/templates`, {
      headers: { authorization: `Bearer ${secret?.trim()}` },
    });
    expect(templates.status).toBe(200);
    await screenshot(page, "admin-api-key-once");
    await page.keyboard.press("Escape");
    await page.locator(byTestId("api-key-secret-dialog")).waitFor({ state: "detached" });

    await page.click(byTestId("admin-nav-audit"));
    await page.waitForSelector(byTestId("audit-row"));
    await screenshot(page, "admin-audit");
  });
});

describe("agent inbox", () => {
  let bank: Bank;
  let agent: Awaited<ReturnType<typeof addBankUser>>;
  let advisor: Awaited<ReturnType<typeof addBankUser>>;
  let agentPage: Page;
  const waId = `49151${uniqueDigits(8)}`;

  beforeAll(async () => {
    bank = await inHouseBank();
    agent = await addBankUser(system, bank, "bank_agent");
    advisor = await addBankUser(system, bank, "bank_advisor", { advisorCode: "BB1" });
    const snippet = await bank.admin.post(`/v1/tenants/${bank.slug}/snippets`, {
      shortcut: "/gruss",
      title: "Begrüßung",
      body: "Guten Tag {{customer.name}}, wie kann ich Ihnen helfen?",
    });
    expect(snippet.status).toBe(201);
  });

  it("pops up a new customer chat within 2 s and answers it with a snippet the customer receives", async () => {
    agentPage = await newPage();
    await signIn(agentPage, base, agent.email, PASSWORD);
    await agentPage.waitForSelector(`${byTestId("stream-state")}:has-text("Live")`);
    await setPresence(agentPage, "online");

    const started = Date.now();
    await customerWrites(bank, waId, "Erika Mustermann", "Hallo, ich habe eine Frage zu meinem Konto.");
    await agentPage.waitForSelector(`${byTestId("toast")}:has-text("Neuer Chat")`, { timeout: 5_000 });
    const popUpMs = Date.now() - started;
    expect(popUpMs, `pop-up after ${popUpMs} ms`).toBeLessThan(2_000);
    const conversationId = await conversationOf(bank, waId);
    const item = agentPage.locator(`${byTestId("inbox-item")}[data-conversation-id="${conversationId}"]`);
    await item.waitFor();
    await screenshot(agentPage, "inbox-new-chat");

    await item.click();
    await agentPage.waitForSelector(`${byTestId("message")}:has-text("Frage zu meinem Konto")`);
    // Why the chat came here, in German, and what the rule book allows on its topic.
    await agentPage.waitForSelector(`${byTestId("routing-reason")}:has-text("Modus Inhouse")`);
    await agentPage.waitForSelector(byTestId("guidance-panel"));
    const composer = agentPage.locator(byTestId("composer"));
    await composer.fill("/gru");
    await agentPage.waitForSelector(`${byTestId("snippet-item")}:has-text("Begrüßung")`);
    await composer.press("Enter");
    await expect
      .poll(() => composer.inputValue())
      .toBe("Guten Tag Erika Mustermann, wie kann ich Ihnen helfen?");
    await composer.press("Enter");

    const sent = await eventually(async () => {
      const messages = await sentTo(waId);
      return messages.find((m) => m.body.text?.body.startsWith("Guten Tag Erika Mustermann"));
    });
    expect(sent.type).toBe("text");
    // The outbound bubble shows Meta's delivery status once the simulator reports it.
    await agentPage.waitForSelector(
      `${byTestId("message")}[data-direction="outbound"] ${byTestId("message-status")}[data-status="delivered"], ${byTestId("message")}[data-direction="outbound"] ${byTestId("message-status")}[data-status="read"]`,
    );
    await screenshot(agentPage, "conversation-answered");
  });

  it("misses no customer message while its event stream was cut", async () => {
    system.dropConnections();
    await agentPage.waitForSelector(`${byTestId("stream-state")}:has-text("Verbindung")`);
    // Written while the agent's browser has no stream: replayed (Last-Event-ID) or re-fetched on return.
    await customerWrites(bank, waId, "Erika Mustermann", "Sind Sie noch da?");
    await agentPage.waitForSelector(`${byTestId("stream-state")}:has-text("Live")`, { timeout: 15_000 });
    await agentPage.waitForSelector(`${byTestId("message")}:has-text("Sind Sie noch da?")`);
  });

  it("hands the chat over to an advisor who sees it arrive", async () => {
    const conversationId = await conversationOf(bank, waId);
    const advisorPage = await newPage();
    await signIn(advisorPage, base, advisor.email, PASSWORD);
    await advisorPage.waitForSelector(`${byTestId("stream-state")}:has-text("Live")`);
    await setPresence(advisorPage, "online");

    await agentPage.click(byTestId("action-handover"));
    await agentPage.waitForSelector(byTestId("handover-dialog"));
    await agentPage.check(byTestId("handover-target-user"));
    await agentPage.selectOption(byTestId("handover-user"), advisor.id);
    await agentPage.fill(byTestId("handover-note"), "Kundin möchte eine Baufinanzierung besprechen.");
    await screenshot(agentPage, "handover-dialog");
    await agentPage.click(byTestId("handover-submit"));

    await advisorPage.waitForSelector(`${byTestId("toast")}:has-text("Neuer Chat")`);
    const item = advisorPage.locator(`${byTestId("inbox-item")}[data-conversation-id="${conversationId}"]`);
    await item.waitFor();
    await item.click();
    await advisorPage.waitForSelector(`${byTestId("message")}:has-text("Frage zu meinem Konto")`);
    await screenshot(advisorPage, "advisor-received");
    // The agent's list no longer holds the chat.
    await agentPage
      .locator(`${byTestId("inbox-item")}[data-conversation-id="${conversationId}"]`)
      .waitFor({ state: "detached" });
  });

  it("forces a template once the 24-hour window has closed: approved ones from the registry, with a preview", async () => {
    // The bank's templates at WhatsApp: one approved, one rejected by Meta, one paused.
    await seedTemplates(system, bank, [
      {
        name: "rueckmeldung_termin",
        body: "Guten Tag {{1}}, Ihr Termin ist bestätigt. Antworten Sie auf diese Nachricht, um den Chat fortzusetzen.",
        footer: "Ihre Sparkasse",
      },
      {
        name: "depot_angebot",
        category: "MARKETING",
        body: "Ihr Depot: {{1}}",
        status: "REJECTED",
        reason: "INCORRECT_CATEGORY",
      },
      { name: "bausparen_aktion", category: "MARKETING", body: "Jetzt {{1}} sichern.", status: "PAUSED" },
    ]);
    const customer = `49160${uniqueDigits(8)}`;
    await customerWrites(bank, customer, "Max Späth", "Guten Morgen");
    const conversationId = await conversationOf(bank, customer);
    // The customer's last message is 25 hours old: the free-form window is over.
    await sql`update ${sql.table(`${bank.schema}.customers`)} set last_inbound_at = now() - interval '25 hours' where wa_id = ${customer}`.execute(
      system.services.db,
    );
    await agentPage.goto(`${base}/#/inbox/${bank.slug}/${conversationId}`);
    await agentPage.waitForSelector(`${byTestId("window-countdown")}[data-open="false"]`);
    await agentPage.waitForSelector(byTestId("template-picker"));
    expect(await agentPage.locator(byTestId("composer")).count()).toBe(0);
    await screenshot(agentPage, "window-closed-template");

    // Templates WhatsApp has not approved are listed, cannot be chosen, and say why.
    const unavailable = agentPage.locator(byTestId("template-option-unavailable"));
    expect(await unavailable.count()).toBe(2);
    expect(
      await unavailable.evaluateAll((options) => options.every((o) => (o as HTMLOptionElement).disabled)),
    ).toBe(true);
    await agentPage.waitForSelector(
      `${byTestId("template-unavailable")}:has-text("REJECTED: INCORRECT_CATEGORY")`,
    );
    await agentPage.selectOption(byTestId("template-select"), "rueckmeldung_termin|de");
    // One input per parameter, and the message as the customer will read it.
    expect(await agentPage.locator(byTestId("template-param")).count()).toBe(1);
    expect(await agentPage.locator(byTestId("template-send")).isDisabled()).toBe(true);
    await agentPage.fill(byTestId("template-param"), "Max Späth");
    await agentPage.waitForSelector(
      `${byTestId("template-preview")}:has-text("Guten Tag Max Späth, Ihr Termin ist bestätigt.")`,
    );
    await screenshot(agentPage, "template-picker-preview");
    await agentPage.click(byTestId("template-send"));
    const sent = await eventually(async () => (await sentTo(customer)).find((m) => m.type === "template"));
    expect(sent.body.template?.name).toBe("rueckmeldung_termin");
    expect(sent.body.template?.components?.[0]?.parameters[0]?.text).toBe("Max Späth");
    // The agent's conversation shows the filled-in text, not the template's name.
    await agentPage.waitForSelector(`${byTestId("message")}:has-text("Guten Tag Max Späth")`);
    // A free text is refused by the server too: the window is enforced there, not only in the browser.
    const refused = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      {
        text: "Hallo?",
      },
    );
    expect(refused.status).toBe(422);
  });

  it("returns to the login after the session expired and back to the open chat afterwards", async () => {
    const route = new URL(agentPage.url()).hash;
    expect(route).toMatch(/^#\/inbox\/.+\/conv_/);
    await system.services.db
      .withSchema("control")
      .deleteFrom("sessions")
      .where("user_id", "=", agent.id)
      .execute();
    await agentPage.selectOption(byTestId("presence-switch"), "away");
    await agentPage.waitForSelector(byTestId("login-expired"));
    await screenshot(agentPage, "login-expired");
    await agentPage.fill(byTestId("login-email"), agent.email);
    await agentPage.fill(byTestId("login-password"), PASSWORD);
    await agentPage.click(byTestId("login-submit"));
    await agentPage.waitForSelector(byTestId("conversation"));
    expect(new URL(agentPage.url()).hash).toBe(route);
  });
});

describe("KSC agent", () => {
  it("serves two banks in one list, each chat labelled with its bank", async () => {
    const ksc = unique("ksc-");
    expect((await provider.post("/v1/ksc-orgs", { slug: ksc, name: `KSC ${ksc}` })).status).toBe(201);
    const email = `${unique("kscagent")}@kanal.test`;
    const created = await provider.post(`/v1/ksc-orgs/${ksc}/agents`, {
      email,
      name: "Kira KSC",
      password: PASSWORD,
      maxChats: 5,
    });
    expect(created.status).toBe(201);
    const banks: Bank[] = [];
    for (const _ of [1, 2]) {
      const bank = await onboardBank(system, provider);
      expect((await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: ksc })).status).toBe(200);
      // Full service: the contact centre answers every chat, at any hour.
      const routing = await bank.admin.put(`/v1/tenants/${bank.slug}/routing`, { mode: "full_service" });
      expect(routing.status).toBe(200);
      banks.push(bank);
    }

    const page = await newPage();
    await signIn(page, base, email, PASSWORD);
    await page.waitForSelector(`${byTestId("stream-state")}:has-text("Live")`);
    await setPresence(page, "online");

    const customers = banks.map(() => `49170${uniqueDigits(8)}`);
    for (const [index, bank] of banks.entries()) {
      await customerWrites(
        bank,
        customers[index] ?? "",
        `Kunde ${index + 1}`,
        "Ich brauche Hilfe beim Online-Banking",
      );
    }
    for (const [index, bank] of banks.entries()) {
      const conversationId = await conversationOf(bank, customers[index] ?? "");
      const label = page.locator(
        `${byTestId("inbox-item")}[data-conversation-id="${conversationId}"] ${byTestId("inbox-item-bank")}`,
      );
      await label.waitFor();
      expect(await label.textContent()).toContain(`Sparkasse ${bank.slug}`);
    }
    await screenshot(page, "ksc-inbox-two-banks");

    const first = await conversationOf(banks[0] as Bank, customers[0] ?? "");
    await page.click(`${byTestId("inbox-item")}[data-conversation-id="${first}"]`);
    await page.waitForSelector(`${byTestId("conversation-bank")}:has-text("Sparkasse ${banks[0]?.slug}")`);
    await screenshot(page, "ksc-conversation");
  });
});
