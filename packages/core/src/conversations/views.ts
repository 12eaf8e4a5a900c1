import type { Db, Message } from "@kanal/db";
import type { Viewer } from "../kernel/domain-events";
import { viewerOf, viewJson, viewText } from "../rules/guard";
import { auditTenant } from "../kernel/audit";
import { notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { kscMaySee, kscMaySeeSql, kscScopeOf } from "../tenants/ksc-scope";
import { WINDOW_MS } from "./window";

interface ConversationSummary {
  id: string;
  tenant: string;
  status: string;
  assigneeUserId: string | null;
  handledBy: string | null;
  queue: string | null;
  customer: { id: string; name: string | null; waId: string | null };
  topic: string | null;
  flags: string[];
  lastMessageAt: string;
  openedAt: string;
}

interface MessageView {
  id: string;
  direction: string;
  type: string;
  kind: string;
  text: string | null;
  status: string;
  error: Record<string, unknown> | null;
  media: { url: string; mimeType: string | null; filename: string | null; status: string } | null;
  payload: Record<string, unknown> | null;
  authorUserId: string | null;
  topic: string | null;
  ruleVersion: number | null;
  createdAt: string;
  conversationId: string;
}

const displayName = (c: { name: string | null; profile_name: string | null }) => c.name ?? c.profile_name;

export async function listConversations(
  db: Db,
  access: TenantAccess,
  status?: "open" | "queued" | "closed",
  limit = 200,
): Promise<ConversationSummary[]> {
  let q = db
    .withSchema(access.schema)
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select([
      "c.id",
      "c.status",
      "c.assignee_user_id",
      "c.handled_by",
      "c.queue",
      "c.topic",
      "c.flags",
      "c.last_message_at",
      "c.opened_at",
      "cu.id as customer_id",
      "cu.name",
      "cu.profile_name",
      "cu.wa_id",
    ])
    .orderBy("c.last_message_at", "desc")
    .limit(limit);
  if (status) q = q.where("c.status", "=", status);
  // A contracted KSC sees only its own organisation's KSC chats (tenants/ksc-scope); a KSC agent's own
  // chat is always handled_by 'ksc', so the list needs no viewer.
  const scope = kscScopeOf(access, null);
  if (scope) q = q.where(kscMaySeeSql(scope, "c"));
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    tenant: access.tenant.slug,
    status: r.status,
    assigneeUserId: r.assignee_user_id,
    handledBy: r.handled_by,
    queue: r.queue,
    customer: { id: r.customer_id, name: displayName(r), waId: r.wa_id },
    topic: r.topic,
    flags: r.flags,
    lastMessageAt: r.last_message_at.toISOString(),
    openedAt: r.opened_at.toISOString(),
  }));
}

/** A stored message as `viewer` may see it: its text, filename and details through the one guard. */
function messageView(
  m: Message & { media_status?: string | null },
  tenant: string,
  viewer: Viewer,
): MessageView {
  const media = m.media as { mimeType?: string | null; filename?: string | null } | null;
  return {
    id: m.id,
    conversationId: m.conversation_id,
    direction: m.direction,
    type: m.type,
    kind: m.kind,
    text: viewText(m.text, viewer),
    status: m.status,
    error: m.error,
    media: media
      ? {
          url: `/v1/tenants/${tenant}/messages/${m.id}/media`,
          mimeType: media.mimeType ?? null,
          filename: viewText(media.filename ?? null, viewer),
          status: m.media_status ?? "pending",
        }
      : null,
    payload: viewJson(m.payload, viewer),
    authorUserId: m.author_user_id,
    topic: m.topic,
    ruleVersion: m.rule_version,
    createdAt: m.created_at.toISOString(),
  };
}

async function messagesOf(db: Db, schema: string, conversationIds: string[]) {
  if (conversationIds.length === 0) return [];
  return db
    .withSchema(schema)
    .selectFrom("messages as m")
    .leftJoin("media as md", "md.message_id", "m.id")
    .selectAll("m")
    .select("md.status as media_status")
    .where("m.conversation_id", "in", conversationIds)
    .orderBy("m.created_at")
    .orderBy("m.id")
    .execute();
}

/**
 * One conversation with its messages and the customer's earlier conversations. Reading it as the
 * assignee marks the customer's messages read at Meta; every KSC read is audited in the bank's schema.
 */
export async function conversationDetail(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  conversationId: string,
) {
  const { db } = services;
  const t = db.withSchema(access.schema);
  const row = await t
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .selectAll("c")
    .select([
      "cu.name",
      "cu.profile_name",
      "cu.wa_id",
      "cu.external_ref",
      "cu.advisor_user_id",
      "cu.last_inbound_at as customer_last_inbound_at",
    ])
    .where("c.id", "=", conversationId)
    .executeTakeFirst();
  const scope = kscScopeOf(access, ctx.actor.kind === "user" ? ctx.actor.userId : null);
  if (!row || (scope && !kscMaySee(row, scope))) throw notFound("Conversation");

  let earlierQuery = t
    .selectFrom("conversations")
    .select(["id", "opened_at", "closed_at", "topic", "handled_by"])
    .where("customer_id", "=", row.customer_id)
    .where("id", "<>", row.id)
    .where("opened_at", "<", row.opened_at);
  // The customer's earlier chats by the same rule: a KSC never sees what another organisation handled.
  if (scope) earlierQuery = earlierQuery.where(kscMaySeeSql(scope));
  const earlier = await earlierQuery.orderBy("opened_at", "desc").limit(5).execute();
  const all = await messagesOf(db, access.schema, [row.id, ...earlier.map((e) => e.id)]);
  const views = all.map((m) => messageView(m, access.tenant.slug, viewerOf(access)));

  if (scope) {
    await auditTenant(db, access.schema, ctx.actor, {
      action: "conversation.viewed",
      targetType: "conversation",
      targetId: row.id,
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
  }
  if (
    ctx.actor.kind === "user" &&
    row.assignee_user_id === ctx.actor.userId &&
    all.some((m) => m.conversation_id === row.id && m.direction === "inbound" && m.status === "received")
  ) {
    await services.queues.dispatch
      .add(
        "mark-read",
        { tenantId: access.tenant.id, conversationId: row.id },
        { jobId: `read-${row.id}-${Date.now()}`, priority: 5 },
      )
      .catch(() => undefined);
  }
  const lastInbound = row.customer_last_inbound_at;
  return {
    conversation: {
      id: row.id,
      tenant: access.tenant.slug,
      status: row.status,
      assigneeUserId: row.assignee_user_id,
      handledBy: row.handled_by,
      queue: row.queue,
      customer: {
        id: row.customer_id,
        name: displayName(row),
        waId: row.wa_id,
        externalRef: row.external_ref,
        advisorUserId: row.advisor_user_id,
      },
      topic: row.topic,
      ruleId: row.rule_id,
      flags: row.flags,
      routing: row.routing,
      openedAt: row.opened_at.toISOString(),
      closedAt: row.closed_at?.toISOString() ?? null,
      lastMessageAt: row.last_message_at.toISOString(),
      windowExpiresAt: lastInbound ? new Date(lastInbound.getTime() + WINDOW_MS).toISOString() : null,
    },
    messages: views.filter((m) => m.conversationId === row.id),
    history: earlier.map((e) => ({
      id: e.id,
      openedAt: e.opened_at.toISOString(),
      closedAt: e.closed_at?.toISOString() ?? null,
      topic: e.topic,
      handledBy: e.handled_by,
      messages: views.filter((m) => m.conversationId === e.id),
    })),
  };
}

/** The stored media of a message, for agents who may read its conversation. */
export async function messageMedia(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  messageId: string,
) {
  const t = services.db.withSchema(access.schema);
  const row = await t
    .selectFrom("media as md")
    .innerJoin("messages as m", "m.id", "md.message_id")
    .innerJoin("conversations as c", "c.id", "m.conversation_id")
    .select([
      "md.content",
      "md.mime_type",
      "md.filename",
      "md.status",
      "c.id as conversation_id",
      "c.handled_by",
      "c.queue",
      "c.ksc_org_id",
      "c.assignee_user_id",
    ])
    .where("md.message_id", "=", messageId)
    .executeTakeFirst();
  const scope = kscScopeOf(access, ctx.actor.kind === "user" ? ctx.actor.userId : null);
  if (!row || (scope && !kscMaySee(row, scope))) throw notFound("Media");
  if (scope) {
    await auditTenant(services.db, access.schema, ctx.actor, {
      action: "media.viewed",
      targetType: "message",
      targetId: messageId,
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
  }
  // The filename goes into the download's header: the same view of it as in the conversation.
  return { ...row, filename: viewText(row.filename, viewerOf(access)) };
}
