import { isBankRole } from "@kanal/contracts/roles";
import { sql } from "@kanal/db";
import type { Actor } from "../kernel/actor";
import { AppError } from "../kernel/errors";
import type { Services } from "../services";
import { type KscScope, kscMaySeeSql } from "../tenants/ksc-scope";

interface InboxConversation {
  tenant: string;
  tenantName: string;
  id: string;
  status: string;
  assigneeUserId: string | null;
  handledBy: string | null;
  queue: string | null;
  customer: { id: string; name: string | null; waId: string | null };
  topic: string | null;
  lastMessageAt: string;
  queuedAt: string | null;
  routingReason: string | null;
}

interface InboxQueue {
  tenant: string;
  tenantName: string;
  queue: "bank" | "ksc";
  count: number;
  oldestQueuedAt: string | null;
  oldest: InboxConversation[];
}

interface Served {
  tenantId: string;
  slug: string;
  name: string;
  schema: string;
  /** Queues this person may take from in that bank. */
  queues: ("bank" | "ksc")[];
  viaKsc: boolean;
  /** the KSC organisation through which a KSC agent serves this bank (null: the bank's own staff) */
  kscOrgId: string | null;
}

async function servedBanks(services: Services, actor: Extract<Actor, { kind: "user" }>): Promise<Served[]> {
  const served = new Map<string, Served>();
  const bankIds = actor.memberships
    .filter((m) => m.tenantId && isBankRole(m.role))
    .map((m) => ({ id: m.tenantId ?? "", role: m.role }));
  const kscOrgIds = actor.memberships
    .filter((m) => m.role === "ksc_agent" && m.kscOrgId)
    .map((m) => m.kscOrgId ?? "");
  const kscTenants =
    kscOrgIds.length > 0
      ? await services.db
          .withSchema("control")
          .selectFrom("ksc_contracts")
          .select(["tenant_id", "ksc_org_id"])
          .where("ksc_org_id", "in", kscOrgIds)
          .execute()
      : [];
  const ids = [...bankIds.map((b) => b.id), ...kscTenants.map((k) => k.tenant_id)];
  if (ids.length === 0) return [];
  const tenants = await services.db
    .withSchema("control")
    .selectFrom("tenants")
    .select(["id", "slug", "name", "schema_name"])
    .where("id", "in", ids)
    .where("status", "=", "active")
    .execute();
  for (const t of tenants) {
    const bank = bankIds.find((b) => b.id === t.id);
    if (bank) {
      // Advisors get chats addressed to them, not the service centre's queues.
      served.set(t.id, {
        tenantId: t.id,
        slug: t.slug,
        name: t.name,
        schema: t.schema_name,
        queues: bank.role === "bank_advisor" ? [] : ["bank", "ksc"],
        viaKsc: false,
        kscOrgId: null,
      });
    } else {
      served.set(t.id, {
        tenantId: t.id,
        slug: t.slug,
        name: t.name,
        schema: t.schema_name,
        queues: ["ksc"],
        viaKsc: true,
        kscOrgId: kscTenants.find((k) => k.tenant_id === t.id)?.ksc_org_id ?? null,
      });
    }
  }
  return [...served.values()].sort((a, b) => a.slug.localeCompare(b.slug));
}

type Row = {
  id: string;
  status: string;
  assignee_user_id: string | null;
  handled_by: string | null;
  queue: string | null;
  topic: string | null;
  last_message_at: Date;
  queued_at: Date | null;
  routing: unknown;
  customer_id: string;
  customer_name: string | null;
  profile_name: string | null;
  wa_id: string | null;
};

function item(bank: Served, r: Row): InboxConversation {
  const routing = (r.routing ?? null) as { reason?: string } | null;
  return {
    tenant: bank.slug,
    tenantName: bank.name,
    id: r.id,
    status: r.status,
    assigneeUserId: r.assignee_user_id,
    handledBy: r.handled_by,
    queue: r.queue,
    customer: { id: r.customer_id, name: r.customer_name ?? r.profile_name, waId: r.wa_id },
    topic: r.topic,
    lastMessageAt: r.last_message_at.toISOString(),
    queuedAt: r.queued_at?.toISOString() ?? null,
    routingReason: routing?.reason ?? null,
  };
}

function baseQuery(services: Services, schema: string) {
  return services.db
    .withSchema(schema)
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select([
      "c.id",
      "c.status",
      "c.assignee_user_id",
      "c.handled_by",
      "c.queue",
      "c.topic",
      "c.last_message_at",
      "c.queued_at",
      "c.routing",
      "c.customer_id",
      "cu.name as customer_name",
      "cu.profile_name",
      "cu.wa_id",
    ]);
}

/**
 * One inbox across every bank a person serves: their open chats (newest activity first), each labelled
 * with its bank, and the queues they may take from with count and the oldest waiting chats.
 */
export async function loadInbox(
  services: Services,
  actor: Actor,
  options: { oldestPerQueue?: number } = {},
): Promise<{ conversations: InboxConversation[]; queues: InboxQueue[] }> {
  if (actor.kind !== "user") throw new AppError("forbidden", "The inbox belongs to a signed-in person");
  const banks = await servedBanks(services, actor);
  const perQueue = options.oldestPerQueue ?? 5;
  const conversations: InboxConversation[] = [];
  const queues: InboxQueue[] = [];
  for (const bank of banks) {
    // A KSC agent sees only their organisation's chats of the bank (tenants/ksc-scope): its queue holds
    // no chat another organisation handled or queued.
    const scope: KscScope | null = bank.viaKsc ? { orgId: bank.kscOrgId ?? "", userId: actor.userId } : null;
    const visible = (alias?: string) => (scope ? kscMaySeeSql(scope, alias) : sql<boolean>`true`);
    const mine = (await baseQuery(services, bank.schema)
      .where("c.status", "=", "open")
      .where("c.assignee_user_id", "=", actor.userId)
      .where(visible("c"))
      .orderBy("c.last_message_at", "desc")
      .limit(500)
      .execute()) as Row[];
    conversations.push(...mine.map((r) => item(bank, r)));
    for (const side of bank.queues) {
      const counted = await services.db
        .withSchema(bank.schema)
        .selectFrom("conversations")
        .select([sql<string>`count(*)`.as("n"), sql<Date | null>`min(queued_at)`.as("oldest")])
        .where("status", "=", "queued")
        .where("queue", "=", side)
        .where(visible())
        .executeTakeFirstOrThrow();
      const n = Number(counted.n);
      // An empty KSC queue of a bank without KSC is noise for its own staff.
      if (side === "ksc" && !bank.viaKsc && n === 0) continue;
      const oldest =
        n > 0
          ? ((await baseQuery(services, bank.schema)
              .where("c.status", "=", "queued")
              .where("c.queue", "=", side)
              .where(visible("c"))
              .orderBy("c.queued_at")
              .limit(perQueue)
              .execute()) as Row[])
          : [];
      queues.push({
        tenant: bank.slug,
        tenantName: bank.name,
        queue: side,
        count: n,
        oldestQueuedAt: counted.oldest ? new Date(counted.oldest).toISOString() : null,
        oldest: oldest.map((r) => item(bank, r)),
      });
    }
  }
  conversations.sort((a, b) => b.lastMessageAt.localeCompare(a.lastMessageAt));
  return { conversations, queues };
}
