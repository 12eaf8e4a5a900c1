import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type FullSystem, startFullSystem } from "../support/full-system";
import { type Bank, onboardBank, providerClient, uniqueDigits } from "../support/system";
import { ALWAYS_OPEN, contractKsc, online, type Person, setRouting } from "../routing/helpers";
import { hasClearCard, hasClearIban, IBAN_COMPACT, MASKED_CARD } from "./clear-data";

/**
 * The guard on every path, continued (test/guard/every-path.int.test.ts): cards split over lines or by
 * underscores (as scanners and phones name files), IBANs glued to a word, and the filename in a media
 * download's header. A card number never reaches storage in clear, and an IBAN is masked for every KSC
 * viewer, on every path.
 */

let system: FullSystem;
let kscBank: Bank;
let kscAgent: Person;

beforeAll(async () => {
  system = await startFullSystem();
  const provider = await providerClient(system);
  kscBank = await onboardBank(system, provider);
  const ksc = await contractKsc(system, provider, [kscBank], 1, 50);
  kscAgent = ksc.agents[0] as Person;
  await online(kscAgent);
  await setRouting(kscBank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
});
afterAll(() => system?.close());

const tdb = () => system.services.db.withSchema(kscBank.schema);

async function customerWrites(
  waId: string,
  message: { text?: string; type?: "text" | "document"; filename?: string },
): Promise<string> {
  const res = await system.simPost<{ wamid: string; webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: kscBank.phoneNumberId,
    from: waId,
    name: "Erika Muster",
    ...message,
  });
  expect(res.webhookStatus).toBe(200);
  return res.wamid;
}

async function conversationOf(waId: string): Promise<string> {
  const row = await eventually(async () =>
    tdb()
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id"])
      .where("cu.wa_id", "=", waId)
      .where("c.status", "=", "open")
      .where("c.assignee_user_id", "=", kscAgent.id)
      .executeTakeFirst(),
  );
  return row.id;
}

async function storedInbound(wamid: string) {
  return eventually(async () =>
    tdb().selectFrom("messages").selectAll().where("wamid", "=", wamid).executeTakeFirst(),
  );
}

async function webhookBodiesOf(wamid: string): Promise<string[]> {
  const rows = await system.services.db
    .withSchema("control")
    .selectFrom("webhook_events")
    .select("body")
    .where("body", "like", `%${wamid}%`)
    .execute();
  return rows.map((r) => String(r.body));
}

describe("separators customers and their devices use", () => {
  it("a card number whose groups the customer wrote on separate lines is stored masked", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(waId, { text: "Hallo" });
    await conversationOf(waId);
    const wamid = await customerWrites(waId, { text: "Meine Karte:\n4111 1111\n1111 1111" });
    const stored = await storedInbound(wamid);
    expect(hasClearCard(stored.text)).toBe(false);
    for (const body of await webhookBodiesOf(wamid)) expect(hasClearCard(body)).toBe(false);
  });

  it("a card number in a filename with underscores (as scanners and phones name files) is stored masked", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(waId, { text: "Hallo" });
    await conversationOf(waId);
    const wamid = await customerWrites(waId, {
      type: "document",
      filename: "Karte_4111_1111_1111_1111.pdf",
    });
    const stored = await storedInbound(wamid);
    expect((stored.media as { filename?: string } | null)?.filename).toContain(MASKED_CARD);
    expect(hasClearCard(stored.media)).toBe(false);
    const media = await eventually(async () =>
      tdb().selectFrom("media").select("filename").where("message_id", "=", stored.id).executeTakeFirst(),
    );
    expect(hasClearCard(media.filename)).toBe(false);
    for (const body of await webhookBodiesOf(wamid)) expect(hasClearCard(body)).toBe(false);
  });

  it("an IBAN glued to a word by an underscore in a filename is masked for the KSC viewer", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(waId, { text: "Hallo" });
    const id = await conversationOf(waId);
    const wamid = await customerWrites(waId, {
      type: "document",
      filename: `Rechnung_${IBAN_COMPACT}.pdf`,
    });
    const stored = await storedInbound(wamid);
    const detail = await kscAgent.client.get<{
      messages: { id: string; media: { filename: string | null } | null }[];
    }>(`/v1/tenants/${kscBank.slug}/conversations/${id}`);
    expect(detail.status).toBe(200);
    const shown = detail.body.messages.find((m) => m.id === stored.id);
    expect(shown?.media?.filename).toBeTruthy();
    expect(hasClearIban(shown?.media?.filename)).toBe(false);
  });
});

describe("media download", () => {
  it("a KSC agent downloading a document gets its filename (Content-Disposition) with the IBAN masked, as in the detail view", async () => {
    const waId = uniqueDigits(12);
    await customerWrites(waId, { text: "Hallo" });
    const id = await conversationOf(waId);
    const wamid = await customerWrites(waId, {
      type: "document",
      filename: `Rechnung ${IBAN_COMPACT}.pdf`,
    });
    const stored = await storedInbound(wamid);
    // The detail view masks it for the KSC (covered in every-path.int.test.ts) …
    const detail = await kscAgent.client.get<{
      messages: { id: string; media: { filename: string | null } | null }[];
    }>(`/v1/tenants/${kscBank.slug}/conversations/${id}`);
    expect(hasClearIban(detail.body.messages.find((m) => m.id === stored.id)?.media)).toBe(false);
    // … and the download of the same document must not hand the clear IBAN back in its header.
    const download = await eventually(async () => {
      const res = await kscAgent.client.get(`/v1/tenants/${kscBank.slug}/messages/${stored.id}/media`);
      return res.status === 200 ? res : undefined;
    });
    const disposition = download.headers.get("content-disposition") ?? "";
    expect(disposition).toContain("filename=");
    expect(hasClearIban(disposition)).toBe(false);
  });
});
