import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startFullSystem, type FullSystem } from "../../../test/support/full-system";
import {
  addBankUser,
  onboardBank,
  providerClient,
  uniqueDigits,
  type Bank,
  type TestClient,
} from "../../../test/support/system";

let system: FullSystem;
let bank: Bank;
let agent: { id: string; client: TestClient };

beforeAll(async () => {
  system = await startFullSystem();
  bank = await onboardBank(system, await providerClient(system));
  agent = await addBankUser(system, bank, "bank_agent");
});
afterAll(() => system.close());

const FILENAME = "Überweisung 💶.html";
const HTML = "<!doctype html><script>fetch('/v1/me').then(r=>r.text()).then(alert)</script>";

/**
 * A customer sends a document; the stored file is then made what a customer may really send: an HTML
 * file with a name beyond Latin-1.
 */
async function customerSendsHtml(): Promise<string> {
  const waId = uniqueDigits(12);
  await system.simPost("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Mia",
    type: "document",
    // The simulator's own download header cannot carry the emoji; the name is set in Postgres below.
    filename: "ueberweisung.pdf",
  });
  const t = system.services.db.withSchema(bank.schema);
  const conversation = await eventually(async () =>
    t
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .executeTakeFirst(),
  );
  await t
    .updateTable("conversations")
    .set({ status: "open", assignee_user_id: agent.id, handled_by: "in_house", queue: null })
    .where("id", "=", conversation.id)
    .execute();
  const media = await eventually(async () =>
    t
      .selectFrom("media as md")
      .innerJoin("messages as m", "m.id", "md.message_id")
      .select(["md.message_id", "md.status"])
      .where("m.conversation_id", "=", conversation.id)
      .where("md.status", "=", "stored")
      .executeTakeFirst(),
  );
  await t
    .updateTable("media")
    .set({ mime_type: "text/html", content: Buffer.from(HTML), filename: FILENAME })
    .where("message_id", "=", media.message_id)
    .execute();
  return media.message_id;
}

describe("media downloads", () => {
  it("serve a customer's HTML document as an attachment with an RFC 5987 name, nosniff and a sandboxing CSP", async () => {
    const messageId = await customerSendsHtml();
    const res = await agent.client.request<string>(
      "GET",
      `/v1/tenants/${bank.slug}/messages/${messageId}/media`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toBe(HTML);
    const disposition = res.headers.get("content-disposition") ?? "";
    expect(disposition).toMatch(/^attachment;/);
    expect(disposition).toContain("filename*=UTF-8''%C3%9Cberweisung%20%F0%9F%92%B6.html");
    // The plain filename= fallback is ASCII only (a header cannot carry the emoji).
    expect(/filename="([^"]*)"/.exec(disposition)?.[1]).toMatch(/^[\x20-\x7e]+$/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/(^|;\s*)sandbox(;|$)/);
    expect(csp).toContain("default-src 'none'");
    expect(res.headers.get("cache-control")).toContain("no-store");
  });

  it("refuses an anonymous download before anything else", async () => {
    const res = await fetch(`${system.apiUrl}/v1/tenants/${bank.slug}/messages/msg_x/media`);
    expect(res.status).toBe(401);
  });
});
