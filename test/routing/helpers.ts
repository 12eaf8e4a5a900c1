import { newId } from "@kanal/core/kernel";
import { routeConversation, type RoutingOutcome } from "@kanal/core/routing";
import type { RoutingConfigInput, ServiceHours } from "@kanal/routing";
import {
  addBankUser,
  type Bank,
  PASSWORD,
  type TestClient,
  TestClient as Client,
  type TestSystem,
  unique,
  uniqueDigits,
} from "../support/system";

const allDay = (): [string, string][] => [["00:00", "24:00"]];
export const ALWAYS_OPEN: ServiceHours = {
  mon: allDay(),
  tue: allDay(),
  wed: allDay(),
  thu: allDay(),
  fri: allDay(),
  sat: allDay(),
  sun: allDay(),
};

export const NEVER_OPEN: ServiceHours = { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };

export interface Person {
  id: string;
  email: string;
  client: TestClient;
}

export async function setRouting(bank: Bank, config: RoutingConfigInput): Promise<void> {
  // "Always open" must not close on a public holiday, or these tests would fail on one.
  const body = config.serviceHours === ALWAYS_OPEN ? { observePublicHolidays: false, ...config } : config;
  const res = await bank.admin.put(`/v1/tenants/${bank.slug}/routing`, body);
  if (res.status !== 200)
    throw new Error(`routing config refused: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function online(
  person: Person,
  status: "online" | "away" | "offline" = "online",
): Promise<void> {
  const res = await person.client.put("/v1/me/presence", { status });
  if (res.status !== 200) throw new Error(`presence failed: ${res.status}`);
}

export async function bankAgent(
  system: TestSystem,
  bank: Bank,
  extra: Record<string, unknown> = {},
  role: "bank_agent" | "bank_advisor" | "bank_admin" = "bank_agent",
): Promise<Person> {
  return addBankUser(system, bank, role, extra);
}

export interface Ksc {
  slug: string;
  agents: Person[];
}

/** A KSC organisation with `n` agents, contracted to the given banks through the provider's API. */
export async function contractKsc(
  system: TestSystem,
  provider: TestClient,
  banks: Bank[],
  n: number,
  maxChats = 5,
): Promise<Ksc> {
  const slug = unique("ksc-");
  const org = await provider.post(`/v1/ksc-orgs`, { slug, name: `KSC ${slug}` });
  if (org.status !== 201) throw new Error(`ksc org failed: ${org.status} ${JSON.stringify(org.body)}`);
  const agents: Person[] = [];
  for (let i = 0; i < n; i++) {
    const email = `${unique("ksc")}@${slug}.test`;
    const res = await provider.post<{ user: { id: string } }>(`/v1/ksc-orgs/${slug}/agents`, {
      email,
      name: `KSC agent ${i}`,
      password: PASSWORD,
      maxChats,
    });
    if (res.status !== 201) throw new Error(`ksc agent failed: ${res.status} ${JSON.stringify(res.body)}`);
    const client = new Client(system.app);
    await client.login(email, PASSWORD);
    agents.push({ id: res.body.user.id, email, client });
  }
  for (const bank of banks) {
    const res = await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: slug });
    if (res.status !== 200) throw new Error(`contract failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return { slug, agents };
}

/**
 * What the webhook ingest does for a first message, without Meta: a contact, a queued conversation and
 * its first inbound message (used where a scenario needs a fixed clock or many conversations at once).
 */
export async function insertQueuedConversation(
  system: TestSystem,
  bank: Bank,
  options: { text?: string; customerId?: string; advisorUserId?: string | null } = {},
): Promise<{ conversationId: string; customerId: string }> {
  const db = system.services.db.withSchema(bank.schema);
  let customerId = options.customerId;
  if (!customerId) {
    customerId = newId("cus");
    await db
      .insertInto("customers")
      .values({
        id: customerId,
        wa_id: `49${uniqueDigits(10)}`,
        profile_name: "Kunde",
        advisor_user_id: options.advisorUserId ?? null,
        last_inbound_at: new Date(),
        updated_at: new Date(),
      })
      .execute();
  }
  const conversationId = newId("conv");
  await db
    .insertInto("conversations")
    .values({
      id: conversationId,
      customer_id: customerId,
      status: "queued",
      queued_at: new Date(),
      opened_at: new Date(),
    })
    .execute();
  await db
    .insertInto("messages")
    .values({
      id: newId("msg"),
      conversation_id: conversationId,
      direction: "inbound",
      type: "text",
      text: options.text ?? "Hallo, ich habe eine Frage",
      status: "received",
      kind: "customer",
      created_at: new Date(),
    })
    .execute();
  return { conversationId, customerId };
}

export async function newRoutedConversation(
  system: TestSystem,
  bank: Bank,
  options: { text?: string; customerId?: string; advisorUserId?: string | null; now?: Date } = {},
): Promise<RoutingOutcome> {
  const { conversationId } = await insertQueuedConversation(system, bank, options);
  return routeConversation(
    system.services,
    { tenantId: bank.tenantId, conversationId, trigger: options.customerId ? "reopen" : "new" },
    { now: options.now },
  );
}

export async function loadOf(system: TestSystem, userId: string): Promise<number> {
  const row = await system.services.db
    .withSchema("control")
    .selectFrom("agent_state")
    .select("open_count")
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row?.open_count ?? 0;
}

export async function conversationRow(system: TestSystem, bank: Bank, id: string) {
  return system.services.db
    .withSchema(bank.schema)
    .selectFrom("conversations")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
}

export async function waitFor<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A webhook body as Meta sends it: one text message of `waId` to the bank's number. */
export function inboundWebhookBody(bank: Bank, waId: string, text: string): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "1",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "4989123456", phone_number_id: bank.phoneNumberId },
              contacts: [{ profile: { name: "Kunde" }, wa_id: waId }],
              messages: [
                {
                  from: waId,
                  id: `wamid.${uniqueDigits(16)}`,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: "text",
                  text: { body: text },
                },
              ],
            },
          },
        ],
      },
    ],
  });
}
