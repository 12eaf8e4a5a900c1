import { createQueues } from "@kanal/queue";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type FullSystem, startFullSystem } from "../../../test/support/full-system";
import { type Bank, onboardBank, providerClient, uniqueDigits } from "../../../test/support/system";
import { queueSystemMessage, writeSystemMessage } from "../src/channel/send";
import { sweepOutbox } from "../src/outbox/outbox";
import { inTransaction } from "../src/outbox/unit-of-work";
import type { Services } from "../src/services";

let system: FullSystem;
let bank: Bank;
let tenant: NonNullable<Awaited<ReturnType<typeof loadTenant>>>;

const loadTenant = (id: string) =>
  system.services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();

beforeAll(async () => {
  system = await startFullSystem();
  bank = await onboardBank(system, await providerClient(system));
  const row = await loadTenant(bank.tenantId);
  if (!row) throw new Error("tenant not found");
  tenant = row;
});
afterAll(() => system.close());

/** A customer who just wrote (their window is open), with their conversation. */
async function customerWrote() {
  const waId = uniqueDigits(12);
  await system.simPost("/_sim/inbound", { phoneNumberId: bank.phoneNumberId, from: waId, text: "Hallo" });
  const conversation = await eventually(() =>
    system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .executeTakeFirst(),
  );
  return { waId, conversationId: conversation.id };
}

const sentTo = async (waId: string) =>
  (await system.simGet<{ messages: { bizOpaqueCallbackData?: string }[] }>(`/_sim/sent?to=${waId}`)).messages;

const outboxRows = () => system.services.db.withSchema("control").selectFrom("outbox").selectAll().execute();

/** The same services, but its queues talk to a Redis that is not there: every relay fails. */
function withoutRedis(): { services: Services; close(): void } {
  const dead = new Redis("redis://127.0.0.1:1", {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  dead.on("error", () => undefined);
  return {
    services: { ...system.services, queues: createQueues(dead, "kanal-dead") },
    close: () => dead.disconnect(),
  };
}

describe("the transactional outbox", () => {
  it("keeps a committed message's job when the relay fails, and the sweeper relays it: sent exactly once", async () => {
    const { waId, conversationId } = await customerWrote();
    const broken = withoutRedis();
    try {
      const queued = await queueSystemMessage(broken.services, {
        tenant,
        conversationId,
        text: "Wir melden uns gleich.",
        kind: "auto_reply",
      });
      expect(queued).not.toBeNull();
      const id = queued?.id ?? "";
      // Committed, with its job waiting in the outbox; nothing reached BullMQ, nothing was sent.
      const row = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("messages")
        .select("status")
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe("queued");
      expect(
        (await outboxRows()).filter((r) => (r.data as { messageId?: string }).messageId === id),
      ).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 300));
      expect((await sentTo(waId)).filter((m) => m.bizOpaqueCallbackData === id)).toHaveLength(0);

      // Two sweepers at once (two workers): the row is relayed once, the message sent once.
      await Promise.all([
        sweepOutbox(system.services, { olderThanMs: 0 }),
        sweepOutbox(system.services, { olderThanMs: 0 }),
      ]);
      await eventually(async () => (await sentTo(waId)).some((m) => m.bizOpaqueCallbackData === id));
      await new Promise((r) => setTimeout(r, 500));
      expect((await sentTo(waId)).filter((m) => m.bizOpaqueCallbackData === id)).toHaveLength(1);
      expect(
        (await outboxRows()).filter((r) => (r.data as { messageId?: string }).messageId === id),
      ).toHaveLength(0);
    } finally {
      broken.close();
    }
  });

  it("relays right after commit when Redis is there (no row left behind)", async () => {
    const { waId, conversationId } = await customerWrote();
    const queued = await queueSystemMessage(system.services, {
      tenant,
      conversationId,
      text: "Danke!",
      kind: "auto_reply",
    });
    await eventually(async () => (await sentTo(waId)).some((m) => m.bizOpaqueCallbackData === queued?.id));
    expect(
      (await outboxRows()).filter((r) => (r.data as { messageId?: string }).messageId === queued?.id),
    ).toHaveLength(0);
  });

  it("gives a job only to committed rows: a rolled-back transaction leaves neither message nor job", async () => {
    const { waId, conversationId } = await customerWrote();
    let written: string | null = null;
    await expect(
      inTransaction(system.services, async (trx, changes) => {
        written =
          (await writeSystemMessage(trx, changes, { tenant, conversationId, text: "nie", kind: "hint" }))
            ?.id ?? null;
        throw new Error("the rest of the transaction failed");
      }),
    ).rejects.toThrow("the rest of the transaction failed");
    expect(written).not.toBeNull();
    const message = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .select("id")
      .where("id", "=", written ?? "")
      .executeTakeFirst();
    expect(message).toBeUndefined();
    expect(
      (await outboxRows()).filter((r) => (r.data as { messageId?: string }).messageId === written),
    ).toHaveLength(0);
    await sweepOutbox(system.services, { olderThanMs: 0 });
    await new Promise((r) => setTimeout(r, 500));
    expect((await sentTo(waId)).filter((m) => m.bizOpaqueCallbackData === written)).toHaveLength(0);
  });
});
