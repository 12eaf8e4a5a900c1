import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueNotifications, queueSystemMessage } from "@kanal/core/channel";
import type { Tenant } from "@kanal/db";
import { eventually, startFullSystem, type FullSystem } from "../../../test/support/full-system";
import {
  onboardBank,
  providerClient,
  uniqueDigits,
  type Bank,
  type TestClient,
} from "../../../test/support/system";

let system: FullSystem;
let provider: TestClient;

interface SimSent {
  to: string;
  body: { text?: { body?: string } };
  token: string;
  bizOpaqueCallbackData?: string;
  acceptedAtMs: number;
}
interface SimNumberStats {
  accepted: number;
  rejected: Record<string, number>;
  maxAcceptedPerSecond: number;
  duplicatesByBizOpaque: number;
}

beforeAll(async () => {
  system = await startFullSystem();
  provider = await providerClient(system);
});
afterAll(() => system.close());

const t = (b: Bank) => system.services.db.withSchema(b.schema);

async function tenantOf(b: Bank): Promise<Tenant> {
  return system.services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", b.tenantId)
    .executeTakeFirstOrThrow();
}

async function limitNumber(b: Bank, perSecond: number) {
  expect(
    (await provider.put(`/v1/tenants/${b.slug}/whatsapp`, { throughputPerSecond: perSecond })).status,
  ).toBe(200);
  await system.simPost("/_sim/config", { throughput: { [b.phoneNumberId]: perSecond } });
}

/** Customers with an open conversation; `viaMeta` ones wrote through the simulator (Meta's window open too). */
async function customers(b: Bank, count: number, options: { viaMeta?: boolean; lastInboundAt?: Date } = {}) {
  const out: { waId: string; conversationId: string }[] = [];
  for (let i = 0; i < count; i++) {
    const waId = uniqueDigits(12);
    if (options.viaMeta) {
      await system.simPost("/_sim/inbound", {
        phoneNumberId: b.phoneNumberId,
        from: waId,
        name: "Kunde",
        text: "Hallo",
      });
      const c = await eventually(async () =>
        t(b)
          .selectFrom("conversations as c")
          .innerJoin("customers as cu", "cu.id", "c.customer_id")
          .select("c.id")
          .where("cu.wa_id", "=", waId)
          .executeTakeFirst(),
      );
      // Notifications go only to customers with a recorded opt-in.
      await t(b)
        .updateTable("customers")
        .set({ opted_in_at: new Date() })
        .where("wa_id", "=", waId)
        .execute();
      out.push({ waId, conversationId: c.id });
      continue;
    }
    const at = options.lastInboundAt ?? new Date();
    const suffix = `${b.slug}_${waId}`;
    await t(b)
      .insertInto("customers")
      .values({
        id: `cus_${suffix}`,
        wa_id: waId,
        profile_name: "Kunde",
        last_inbound_at: at,
        opted_in_at: at,
      })
      .execute();
    await t(b)
      .insertInto("conversations")
      .values({ id: `cnv_${suffix}`, customer_id: `cus_${suffix}`, status: "open", last_inbound_at: at })
      .execute();
    out.push({ waId, conversationId: `cnv_${suffix}` });
  }
  return out;
}

async function sentBy(b: Bank) {
  return (await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?phoneNumberId=${b.phoneNumberId}`))
    .messages;
}

async function numberStats(b: Bank) {
  const stats = await system.simGet<{ numbers: Record<string, SimNumberStats> }>("/_sim/stats");
  return stats.numbers[b.phoneNumberId];
}

async function messageRows(b: Bank, ids: readonly string[]) {
  return t(b)
    .selectFrom("messages")
    .select(["id", "status", "kind", "priority", "wamid", "error", "send_attempts"])
    .where("id", "in", ids)
    .execute();
}

/** The rows once none of them is `queued` or `sending` any more. */
async function settledRows(b: Bank, queued: readonly { id: string }[]) {
  return eventually(
    async () => {
      const rows = await messageRows(
        b,
        queued.map((q) => q.id),
      );
      return rows.every((r) => !["queued", "sending"].includes(r.status)) ? rows : undefined;
    },
    30_000,
    200,
  );
}

describe("bulk notifications (queueNotifications)", () => {
  it("writes the rows queued with their batch jobs, skips closed windows, and sends each once within the limit", async () => {
    await system.simPost("/_sim/config", { enforceWindow: false });
    try {
      const bank = await onboardBank(system, provider);
      await limitNumber(bank, 20);
      const open = await customers(bank, 110);
      const closed = await customers(bank, 2, { lastInboundAt: new Date(Date.now() - 25 * 3_600_000) });
      await system.services.queues.dispatch.pause();
      let queued: { conversationId: string; id: string }[];
      try {
        const result = await queueNotifications(system.services, {
          tenant: await tenantOf(bank),
          batchSize: 50,
          notifications: [...open, ...closed].map((c, i) => ({
            conversationId: c.conversationId,
            text: `Ihre Karte ${i} ist unterwegs`,
          })),
        });
        queued = result.queued;
        expect(result.skipped.sort()).toEqual(closed.map((c) => c.conversationId).sort());
        expect(queued).toHaveLength(110);
        const rows = await messageRows(
          bank,
          queued.map((q) => q.id),
        );
        expect(rows).toHaveLength(110);
        expect(
          rows.every((r) => r.status === "queued" && r.kind === "notification" && r.priority === "bulk"),
        ).toBe(true);
        // 110 messages in batches of 50: three jobs, and no job per message.
        const jobs = await system.services.queues.dispatch.getJobs(["prioritized", "waiting"]);
        const mine = jobs.filter((j) => j.name === "send-batch" && j.data.tenantId === bank.tenantId);
        expect(mine.map((j) => (j.data.messageIds as string[]).length).sort((a, b) => a - b)).toEqual([
          10, 50, 50,
        ]);
        expect(mine.flatMap((j) => j.data.messageIds as string[]).sort()).toEqual(
          queued.map((q) => q.id).sort(),
        );
      } finally {
        await system.services.queues.dispatch.resume();
      }

      const rows = await settledRows(bank, queued);
      expect(rows.every((r) => r.status !== "failed" && r.wamid !== null && r.send_attempts === 1)).toBe(
        true,
      );
      const sent = (await sentBy(bank)).filter((s) => queued.some((q) => q.id === s.bizOpaqueCallbackData));
      expect(sent).toHaveLength(110);
      expect(new Set(sent.map((s) => s.bizOpaqueCallbackData)).size).toBe(110);
      expect(sent.every((s) => s.token === bank.accessToken)).toBe(true);
      const byId = new Map(queued.map((q, i) => [q.id, i]));
      expect(
        sent.every(
          (s) => s.body.text?.body === `Ihre Karte ${byId.get(s.bizOpaqueCallbackData ?? "")} ist unterwegs`,
        ),
      ).toBe(true);
      const stats = await numberStats(bank);
      // The bulk lane leaves one slot of 20 to replies.
      expect(stats?.maxAcceptedPerSecond).toBeLessThanOrEqual(19);
      expect(stats?.rejected["130429"] ?? 0).toBe(0);
      expect(stats?.duplicatesByBizOpaque).toBe(0);
    } finally {
      await system.simPost("/_sim/config", { enforceWindow: true });
    }
  }, 60_000);

  it("handles each message's error on its own inside a batch: 5xx retried once sent, 130429 waits, 131047 fails with the reason", async () => {
    const bank = await onboardBank(system, provider);
    const reachable = await customers(bank, 6, { viaMeta: true });
    // Kanal's window is open, Meta's is not (the customers never wrote through Meta): 131047, permanent.
    const unreachable = await customers(bank, 2);
    // Whatever the customers' messages caused (away messages, hints) is out before the faults are set.
    await eventually(async () => {
      const pending = await t(bank)
        .selectFrom("messages")
        .select("id")
        .where("direction", "=", "outbound")
        .where("status", "in", ["queued", "sending"])
        .execute();
      return pending.length === 0;
    });
    await system.services.queues.dispatch.pause();
    let queued: { conversationId: string; id: string }[];
    try {
      await system.simPost("/_sim/faults", { phoneNumberId: bank.phoneNumberId, kind: "5xx", count: 2 });
      await system.simPost("/_sim/faults", {
        phoneNumberId: bank.phoneNumberId,
        kind: "rate_limit",
        count: 1,
      });
      ({ queued } = await queueNotifications(system.services, {
        tenant: await tenantOf(bank),
        notifications: [...reachable, ...unreachable].map((c) => ({
          conversationId: c.conversationId,
          text: "Info",
        })),
      }));
    } finally {
      await system.services.queues.dispatch.resume();
    }
    const rows = await settledRows(bank, queued);
    const idOf = (c: { conversationId: string }) =>
      queued.find((q) => q.conversationId === c.conversationId)?.id;
    const failed = rows.filter((r) => r.status === "failed");
    expect(failed.map((r) => r.id).sort()).toEqual(unreachable.map(idOf).sort());
    for (const f of failed) expect(f.error).toMatchObject({ code: 131047 });
    const sent = (await sentBy(bank)).filter((s) =>
      reachable.some((c) => idOf(c) === s.bizOpaqueCallbackData),
    );
    expect(sent).toHaveLength(6);
    expect(new Set(sent.map((s) => s.bizOpaqueCallbackData)).size).toBe(6);
    const stats = await numberStats(bank);
    expect(stats?.rejected["131000"]).toBe(2);
    expect(stats?.rejected["130429"]).toBe(1);
    expect(stats?.duplicatesByBizOpaque).toBe(0);
  }, 60_000);

  it("a token rejected inside a batch pauses the number and keeps every message queued until a new token", async () => {
    const bank = await onboardBank(system, provider);
    const list = await customers(bank, 5, { viaMeta: true });
    await system.simPost("/_sim/faults", { phoneNumberId: bank.phoneNumberId, kind: "token_expired" });
    const { queued } = await queueNotifications(system.services, {
      tenant: await tenantOf(bank),
      notifications: list.map((c) => ({ conversationId: c.conversationId, text: "Info" })),
    });
    await eventually(async () => {
      const s = await provider.get<{ whatsapp: { sendingPaused: boolean; pausedReason: string } }>(
        `/v1/tenants/${bank.slug}/whatsapp`,
      );
      return s.body.whatsapp?.sendingPaused ? s.body.whatsapp : undefined;
    });
    const paused = await messageRows(
      bank,
      queued.map((q) => q.id),
    );
    expect(paused.every((r) => r.status === "queued")).toBe(true);

    await fetch(`${system.simUrl}/_sim/faults`, { method: "DELETE" });
    const resumed = await provider.put<{ whatsapp: { sendingPaused: boolean } }>(
      `/v1/tenants/${bank.slug}/whatsapp`,
      {
        accessToken: "EAAG-a-fresh-bulk-token",
      },
    );
    expect(resumed.body.whatsapp.sendingPaused).toBe(false);
    // The parked job wakes up on its own schedule; promote it so the test need not wait a minute.
    const job = await system.services.queues.dispatch.getJob(`batch-${queued[0]?.id}`);
    await job?.promote().catch(() => undefined);
    const sent = await eventually(async () => {
      const s = (await sentBy(bank)).filter((m) => queued.some((q) => q.id === m.bizOpaqueCallbackData));
      return s.length === 5 ? s : undefined;
    }, 20_000);
    expect(sent.every((s) => s.token === "EAAG-a-fresh-bulk-token")).toBe(true);
    expect(new Set(sent.map((s) => s.bizOpaqueCallbackData)).size).toBe(5);
  }, 60_000);

  it("a conversational reply overtakes a saturated number's bulk batches", async () => {
    await system.simPost("/_sim/config", { enforceWindow: false });
    try {
      const bank = await onboardBank(system, provider);
      await limitNumber(bank, 10);
      const list = await customers(bank, 101);
      const tenant = await tenantOf(bank);
      const bulk = list.slice(0, 100);
      const { queued } = await queueNotifications(system.services, {
        tenant,
        notifications: bulk.map((c) => ({ conversationId: c.conversationId, text: "Info" })),
      });
      // 100 bulk messages at 9/s take 11 s; let the window fill, then reply.
      await eventually(async () => ((await sentBy(bank)).length >= 9 ? true : undefined), 10_000);
      const queuedAt = Date.now();
      const reply = await queueSystemMessage(system.services, {
        tenant,
        conversationId: list[100]?.conversationId ?? "",
        text: "Danke, wir melden uns gleich.",
        kind: "auto_reply",
      });
      const replySent = await eventually(
        async () => (await sentBy(bank)).find((s) => s.bizOpaqueCallbackData === reply?.id),
        10_000,
      );
      expect(replySent.acceptedAtMs - queuedAt).toBeLessThan(5_000);
      const pendingBulk = (
        await messageRows(
          bank,
          queued.map((q) => q.id),
        )
      ).filter((r) => r.status === "queued" || r.status === "sending");
      expect(pendingBulk.length).toBeGreaterThan(30);
    } finally {
      await system.simPost("/_sim/config", { enforceWindow: true });
    }
  }, 60_000);
});
