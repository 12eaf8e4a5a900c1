import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type FullSystem, seedTemplates, startFullSystem } from "../support/full-system";
import {
  addBankUser,
  type Bank,
  onboardBank,
  providerClient,
  type TestClient,
  uniqueDigits,
} from "../support/system";
import { ALWAYS_OPEN, contractKsc, online, type Person, setRouting } from "../routing/helpers";
import { CARD, hasClearCard, hasClearIban, IBAN, IBAN_COMPACT, MASKED_CARD } from "./clear-data";

/**
 * Issue 12, "The guard, on every path": the data-protection guard (card numbers never stored in clear,
 * IBANs masked for KSC viewers, the rule book's draft check for KSC agents) must hold on the side paths
 * too — templates, notes, captions and filenames, event streams, outbound text and the masking gaps.
 * Everything goes through the public HTTP API and the WhatsApp simulator, as users do; only the checks
 * read Postgres and Redis directly (the Redis stream is what a reconnecting browser replays).
 */

let system: FullSystem;
/** Full service: every chat goes to its KSC, whose one agent is online. */
let kscBank: Bank;
let kscAgent: Person;
/** In house: chats go to the bank's agent; a KSC is contracted too (as a handover target). */
let bank: Bank;
let agent: Person;
let colleague: Person;
let bankKscAgent: Person;

beforeAll(async () => {
  system = await startFullSystem();
  const provider = await providerClient(system);

  kscBank = await onboardBank(system, provider);
  const ksc = await contractKsc(system, provider, [kscBank], 1, 50);
  kscAgent = ksc.agents[0] as Person;
  await online(kscAgent);
  await setRouting(kscBank, { mode: "full_service", serviceHours: ALWAYS_OPEN });

  bank = await onboardBank(system, provider);
  const bankKsc = await contractKsc(system, provider, [bank], 1, 50);
  bankKscAgent = bankKsc.agents[0] as Person;
  agent = await addBankUser(system, bank, "bank_agent", { maxChats: 50 });
  colleague = await addBankUser(system, bank, "bank_agent", { maxChats: 50 });
  await online(agent);
  await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
  // The templates the agents send below, approved in each bank's registry.
  for (const b of [kscBank, bank])
    await seedTemplates(system, b, [
      { name: "kanal_rueckfrage", body: "Guten Tag, {{1}}" },
      { name: "kanal_bausparen", body: "Zu Ihrem Bausparvertrag: {{1}}" },
      { name: "kanal_kartenversand", body: "Guten Tag {{1}}, {{2}}." },
    ]);
});
afterAll(() => system?.close());

const tdb = (b: Bank) => system.services.db.withSchema(b.schema);
const conversationPath = (b: Bank, id: string) => `/v1/tenants/${b.slug}/conversations/${id}`;

interface CustomerMessage {
  text?: string;
  type?: "text" | "image" | "document";
  filename?: string;
  /** the customer's WhatsApp profile name */
  name?: string;
}

/** A customer writes through the simulator (a signed Meta webhook); returns the message's wamid. */
async function customerWrites(b: Bank, waId: string, message: CustomerMessage | string): Promise<string> {
  const body = typeof message === "string" ? { text: message } : message;
  const res = await system.simPost<{ wamid: string; webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: b.phoneNumberId,
    from: waId,
    name: "Erika Muster",
    ...body,
  });
  expect(res.webhookStatus).toBe(200);
  return res.wamid;
}

/** The customer's open conversation once routing gave it to `assignee`. */
async function conversationHeldBy(b: Bank, waId: string, assignee: string): Promise<string> {
  const row = await eventually(async () =>
    tdb(b)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id"])
      .where("cu.wa_id", "=", waId)
      .where("c.status", "=", "open")
      .where("c.assignee_user_id", "=", assignee)
      .executeTakeFirst(),
  );
  return row.id;
}

/** The rule the conversation is classified under. */
async function ruleOf(b: Bank, conversationId: string): Promise<string | null | undefined> {
  const row = await tdb(b)
    .selectFrom("conversations")
    .select("rule_id")
    .where("id", "=", conversationId)
    .executeTakeFirst();
  return row?.rule_id;
}

/** The stored row of an inbound message, once the webhook was ingested. */
async function storedInbound(b: Bank, wamid: string) {
  return eventually(async () =>
    tdb(b).selectFrom("messages").selectAll().where("wamid", "=", wamid).executeTakeFirst(),
  );
}

async function messagesOf(b: Bank, conversationId: string) {
  return tdb(b)
    .selectFrom("messages")
    .selectAll()
    .where("conversation_id", "=", conversationId)
    .orderBy("created_at")
    .execute();
}

/** What the simulator (Meta) received for this customer. */
async function sentTo(b: Bank, waId: string) {
  const res = await system.simGet<{ messages: { type: string; body: Record<string, unknown> }[] }>(
    `/_sim/sent?to=${waId}&phoneNumberId=${b.phoneNumberId}`,
  );
  return res.messages;
}

/** The raw webhook bodies stored for one inbound message. */
async function webhookBodiesOf(wamid: string): Promise<string[]> {
  const rows = await system.services.db
    .withSchema("control")
    .selectFrom("webhook_events")
    .select("body")
    .where("body", "like", `%${wamid}%`)
    .execute();
  return rows.map((r) => String(r.body));
}

/** Every payload in a person's Redis event stream (what a reconnecting browser replays). */
async function streamOf(userId: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const entries = await system.services.redis.xrange(
    `${system.services.config.QUEUE_PREFIX}:events:${userId}`,
    "-",
    "+",
  );
  return entries.flatMap(([, fields]) => {
    const raw = fields[1];
    return raw ? [JSON.parse(raw) as { type: string; data: Record<string, unknown> }] : [];
  });
}

interface DetailMessage {
  id: string;
  direction: string;
  type: string;
  kind: string;
  text: string | null;
  media: { filename: string | null } | null;
  payload: Record<string, unknown> | null;
}

async function detailAs(client: TestClient, b: Bank, conversationId: string) {
  const res = await client.get<{ messages: DetailMessage[] }>(conversationPath(b, conversationId));
  expect(res.status).toBe(200);
  return res.body.messages;
}

type Refusal = { error: { code: string; message: string } };

describe("templates go through the same draft check and masking as free text", () => {
  it("a KSC agent's template in a chat whose rule forbids free text is refused 422 rule_violation", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(kscBank, waId, "Ich möchte eine Überweisung von 500 Euro machen");
    const id = await conversationHeldBy(kscBank, waId, kscAgent.id);
    await eventually(async () => (await ruleOf(kscBank, id)) === "ueberweisung");
    // Free text is refused in this chat, as the rule says …
    const text = await kscAgent.client.post<Refusal>(`${conversationPath(kscBank, id)}/messages`, {
      text: "Ich führe die Überweisung gleich für Sie aus.",
    });
    expect(text.status).toBe(422);
    // … and so is the same free text put into a template's parameters.
    const res = await kscAgent.client.post<Refusal>(`${conversationPath(kscBank, id)}/messages`, {
      template: {
        name: "kanal_rueckfrage",
        language: "de",
        params: ["Ich führe die Überweisung gleich für Sie aus."],
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("rule_violation");
    expect(res.body.error.message).toMatch(/Textbausteine/);
    const replies = (await messagesOf(kscBank, id)).filter((m) => m.kind === "reply");
    expect(replies).toEqual([]);
  });

  it("a KSC agent's template in a chat whose topic the rule book reserves to the bank is refused", async () => {
    const created = await kscBank.admin.post(`/v1/tenants/${kscBank.slug}/rules`, {
      id: "bausparen",
      topic: "Bausparen",
      keywords: ["Bauspar"],
      priority: 45,
      handling: "ksc_allowed",
      freeTextAllowed: true,
      action: { type: "answer" },
    });
    expect(created.status).toBe(201);
    const waId = uniqueDigits(12);
    await customerWrites(kscBank, waId, "Ich habe eine Frage zu meinem Bausparvertrag");
    const id = await conversationHeldBy(kscBank, waId, kscAgent.id);
    await eventually(async () => (await ruleOf(kscBank, id)) === "bausparen");
    // The bank now reserves the topic to itself; the rule applies to the next message at once.
    const tightened = await kscBank.admin.patch(`/v1/tenants/${kscBank.slug}/rules/bausparen`, {
      handling: "bank_only",
    });
    expect(tightened.status).toBe(200);
    const res = await kscAgent.client.post<Refusal>(`${conversationPath(kscBank, id)}/messages`, {
      template: { name: "kanal_bausparen", language: "de", params: ["Ihr Bausparvertrag läuft bis 2030."] },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("rule_violation");
    expect(res.body.error.message).toMatch(/vorbehalten/);
    expect((await messagesOf(kscBank, id)).filter((m) => m.kind === "reply")).toEqual([]);
  });

  it("a KSC agent's template whose parameters ask for the PIN is refused", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(kscBank, waId, "Wann haben Sie geöffnet?");
    const id = await conversationHeldBy(kscBank, waId, kscAgent.id);
    const res = await kscAgent.client.post<Refusal>(`${conversationPath(kscBank, id)}/messages`, {
      template: { name: "kanal_rueckfrage", language: "de", params: ["Bitte nennen Sie uns Ihre PIN"] },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("rule_violation");
    expect(res.body.error.message).toMatch(/PIN/);
    expect((await messagesOf(kscBank, id)).filter((m) => m.kind === "reply")).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await sentTo(kscBank, waId)).filter((m) => m.type === "template")).toEqual([]);
  });

  it("a bank agent's template with a card number in a parameter is stored and sent masked", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Hallo, ist meine neue Karte schon unterwegs?");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const res = await agent.client.post<{ message: { id: string; text: string | null } }>(
      `${conversationPath(bank, id)}/messages`,
      {
        template: {
          name: "kanal_kartenversand",
          language: "de",
          params: ["Erika", `Ihre Karte ${CARD} wurde heute versandt`],
        },
      },
    );
    expect(res.status).toBe(202);
    expect(hasClearCard(res.body)).toBe(false);

    const row = await tdb(bank)
      .selectFrom("messages")
      .selectAll()
      .where("id", "=", res.body.message.id)
      .executeTakeFirstOrThrow();
    expect(row.text).toContain(MASKED_CARD);
    expect(hasClearCard(row.text)).toBe(false);
    expect(hasClearCard(row.payload)).toBe(false);

    const shown = (await detailAs(agent.client, bank, id)).find((m) => m.id === res.body.message.id);
    expect(shown?.text).toContain(MASKED_CARD);
    expect(hasClearCard(shown)).toBe(false);

    const sent = await eventually(async () => (await sentTo(bank, waId)).find((m) => m.type === "template"));
    expect(JSON.stringify(sent.body)).toContain(MASKED_CARD);
    expect(hasClearCard(sent.body)).toBe(false);
  });
});

describe("notes are masked like message text", () => {
  it("a handover note with a card number is stored masked and shown masked to everyone", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Guten Tag, ich brauche Hilfe");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const handover = await agent.client.post(`${conversationPath(bank, id)}/handover`, {
      toUserId: colleague.id,
      note: `Kunde hat seine Karte ${CARD} genannt, bitte übernehmen`,
    });
    expect(handover.status).toBe(200);

    const note = (await messagesOf(bank, id)).find((m) => m.kind === "handover_note");
    expect(note?.text).toContain(MASKED_CARD);
    expect(hasClearCard(note?.text)).toBe(false);
    for (const reader of [colleague.client, agent.client, bank.admin]) {
      const shown = (await detailAs(reader, bank, id)).find((m) => m.kind === "handover_note");
      expect(shown?.text).toContain(MASKED_CARD);
    }
    const assigned = await eventually(async () =>
      (await streamOf(colleague.id)).find(
        (e) => e.type === "conversation.assigned" && e.data.conversationId === id,
      ),
    );
    expect(hasClearCard(assigned)).toBe(false);
  });

  it("a callback note with a card number is stored masked", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Können Sie mich zurückrufen?");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const res = await agent.client.post<{ callback: { id: string; note: string } }>(
      `${conversationPath(bank, id)}/callback`,
      { note: `Rückruf wegen Karte ${CARD}`, preferredTime: "morgen ab 9" },
    );
    expect(res.status).toBe(201);
    expect(res.body.callback.note).toContain(MASKED_CARD);
    const row = await tdb(bank)
      .selectFrom("callbacks")
      .selectAll()
      .where("id", "=", res.body.callback.id)
      .executeTakeFirstOrThrow();
    expect(row.note).toContain(MASKED_CARD);
    expect(hasClearCard(row.note)).toBe(false);
  });

  it("a handover note with an IBAN, from a bank agent to a KSC agent: masked for the KSC (detail and event), clear for the bank", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Hallo, ich habe eine allgemeine Frage");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const handover = await agent.client.post(`${conversationPath(bank, id)}/handover`, {
      toUserId: bankKscAgent.id,
      note: `Kunde nannte seine IBAN ${IBAN}, bitte allgemein weiterhelfen`,
    });
    expect(handover.status).toBe(200);

    // The KSC agent's view of the chat masks the IBAN …
    const kscView = (await detailAs(bankKscAgent.client, bank, id)).find((m) => m.kind === "handover_note");
    expect(kscView?.text).toBeTruthy();
    expect(hasClearIban(kscView?.text)).toBe(false);
    // … and so does the event that told them about it.
    const assigned = await eventually(async () =>
      (await streamOf(bankKscAgent.id)).find(
        (e) => e.type === "conversation.assigned" && e.data.conversationId === id,
      ),
    );
    expect(assigned.data.note).toBeTruthy();
    expect(hasClearIban(assigned)).toBe(false);
    // The bank's own staff see the IBAN (only card numbers are never stored in clear).
    const bankView = (await detailAs(bank.admin, bank, id)).find((m) => m.kind === "handover_note");
    expect(bankView?.text).toContain(IBAN);
  });
});

describe("captions and filenames are masked like message text", () => {
  it("a document whose filename and caption carry a card number, and an image caption with one, are stored masked", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Hallo, ich schicke Ihnen etwas");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const docWamid = await customerWrites(bank, waId, {
      type: "document",
      filename: `Karte ${CARD}.pdf`,
      text: `Anbei meine Karte ${CARD}`,
    });
    const imageWamid = await customerWrites(bank, waId, {
      type: "image",
      text: `Foto der Karte ${CARD}`,
    });
    const doc = await storedInbound(bank, docWamid);
    const image = await storedInbound(bank, imageWamid);
    expect(doc.text).toContain(MASKED_CARD);
    expect(image.text).toContain(MASKED_CARD);
    expect((doc.media as { filename?: string } | null)?.filename).toContain(MASKED_CARD);
    for (const stored of [doc, image]) {
      expect(hasClearCard(stored.text)).toBe(false);
      expect(hasClearCard(stored.media)).toBe(false);
      expect(hasClearCard(stored.payload)).toBe(false);
    }
    const media = await eventually(async () =>
      tdb(bank).selectFrom("media").select(["filename"]).where("message_id", "=", doc.id).executeTakeFirst(),
    );
    expect(media.filename).toContain(MASKED_CARD);
    expect(hasClearCard(media.filename)).toBe(false);

    const shown = await detailAs(agent.client, bank, id);
    const shownDoc = shown.find((m) => m.id === doc.id);
    expect(shownDoc?.media?.filename).toContain(MASKED_CARD);
    expect(hasClearCard(shown)).toBe(false);

    for (const wamid of [docWamid, imageWamid]) {
      const bodies = await webhookBodiesOf(wamid);
      expect(bodies.length).toBeGreaterThan(0);
      for (const body of bodies) expect(hasClearCard(body)).toBe(false);
    }
  });

  it("an IBAN in a document's filename and caption is masked for a KSC viewer, not for the bank", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(kscBank, waId, "Hallo, ich schicke Ihnen eine Rechnung");
    const id = await conversationHeldBy(kscBank, waId, kscAgent.id);
    const wamid = await customerWrites(kscBank, waId, {
      type: "document",
      filename: `Rechnung ${IBAN_COMPACT}.pdf`,
      text: `Bitte an IBAN ${IBAN}`,
    });
    const stored = await storedInbound(kscBank, wamid);

    const kscView = (await detailAs(kscAgent.client, kscBank, id)).find((m) => m.id === stored.id);
    expect(kscView?.media?.filename).toBeTruthy();
    expect(hasClearIban(kscView?.media?.filename)).toBe(false);
    expect(hasClearIban(kscView?.text)).toBe(false);
    expect(hasClearIban(kscView)).toBe(false);

    const bankView = (await detailAs(kscBank.admin, kscBank, id)).find((m) => m.id === stored.id);
    expect(bankView?.media?.filename).toBe(`Rechnung ${IBAN_COMPACT}.pdf`);
    expect(bankView?.text).toContain(IBAN);
  });
});

describe("event streams carry what the viewer may see", () => {
  it("nothing in a KSC agent's replayable event stream carries the clear IBAN of a handover note", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Guten Tag, eine Frage bitte");
    const id = await conversationHeldBy(bank, waId, agent.id);
    // Bank agent → KSC agent with a note, and the KSC agent hands it back to the bank queue and is told
    // nothing more; whatever reached their stream on the way must be masked.
    expect(
      (
        await agent.client.post(`${conversationPath(bank, id)}/handover`, {
          toUserId: bankKscAgent.id,
          note: `IBAN laut Kunde: ${IBAN} – bitte Rückfrage`,
        })
      ).status,
    ).toBe(200);
    await eventually(async () =>
      (await streamOf(bankKscAgent.id)).some(
        (e) => e.type === "conversation.assigned" && e.data.conversationId === id,
      ),
    );
    expect(
      (
        await bank.admin.post(`${conversationPath(bank, id)}/handover`, {
          toUserId: colleague.id,
          note: `Zurück an die Sparkasse, IBAN ${IBAN}`,
        })
      ).status,
    ).toBe(200);
    // The KSC agent learns they lost the chat (conversation.updated) — with the note, if any, masked.
    await new Promise((r) => setTimeout(r, 500));
    const stream = await streamOf(bankKscAgent.id);
    const about = stream.filter((e) => e.data.conversationId === id);
    expect(about.map((e) => e.type)).toEqual(
      expect.arrayContaining(["conversation.assigned", "conversation.updated"]),
    );
    // Both notes reached the KSC agent's stream — masked, as the REST detail shows them to a KSC viewer.
    expect(about.filter((e) => typeof e.data.note === "string" && e.data.note.length > 0)).toHaveLength(2);
    for (const event of stream) expect(hasClearIban(event)).toBe(false);
  });
});

describe("outbound text", () => {
  it("a bank agent's reply with a card number is stored and sent masked, not only warned about", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Welche Karte haben Sie mir geschickt?");
    const id = await conversationHeldBy(bank, waId, agent.id);
    const res = await agent.client.post<{
      message: { id: string; text: string | null; warnings: { code: string }[] };
    }>(`${conversationPath(bank, id)}/messages`, { text: `Ihre Karte ${CARD} ist unterwegs.` });
    expect(res.status).toBe(202);
    const row = await tdb(bank)
      .selectFrom("messages")
      .selectAll()
      .where("id", "=", res.body.message.id)
      .executeTakeFirstOrThrow();
    expect(row.text).toBe(`Ihre Karte ${MASKED_CARD} ist unterwegs.`);
    const sent = await eventually(async () =>
      (await sentTo(bank, waId)).find(
        (m) => m.type === "text" && JSON.stringify(m.body).includes("unterwegs"),
      ),
    );
    expect(JSON.stringify(sent.body)).toContain(MASKED_CARD);
    expect(hasClearCard(sent.body)).toBe(false);
  });
});

describe("masking gaps, end to end", () => {
  it("a card number with dots, and one after 'Kundennummer', never reach storage in clear", async () => {
    const waId = uniqueDigits(12);
    const dotted = await customerWrites(bank, waId, "Meine Karte: 4111.1111.1111.1111");
    await conversationHeldBy(bank, waId, agent.id);
    const customerNo = await customerWrites(bank, waId, `Kundennummer ${CARD}`);
    for (const wamid of [dotted, customerNo]) {
      const stored = await storedInbound(bank, wamid);
      expect(stored.text).toContain(MASKED_CARD);
      expect(hasClearCard(stored.text)).toBe(false);
      const bodies = await webhookBodiesOf(wamid);
      expect(bodies.length).toBeGreaterThan(0);
      for (const body of bodies) expect(hasClearCard(body)).toBe(false);
    }
  });

  it("a card number in the customer's WhatsApp profile name never reaches storage in clear", async () => {
    const waId = uniqueDigits(12);
    const wamid = await customerWrites(bank, waId, { text: "Hallo", name: `Erika ${CARD}` });
    const customer = await eventually(() =>
      tdb(bank).selectFrom("customers").select("profile_name").where("wa_id", "=", waId).executeTakeFirst(),
    );
    expect(customer.profile_name).toBe(`Erika ${MASKED_CARD}`);
    const bodies = await webhookBodiesOf(wamid);
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(hasClearCard(body)).toBe(false);
  });
});
