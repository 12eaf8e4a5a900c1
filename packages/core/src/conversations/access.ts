import { CONVERSATION_ROLES } from "@kanal/contracts/roles";
import type { Conversation } from "@kanal/db";
import type { Actor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { forbidden, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { Services } from "../services";
import { resolveTenant, type TenantAccess } from "../tenants/access";
import { kscMaySee, kscScopeOf } from "../tenants/ksc-scope";

interface ConversationAccess {
  access: TenantAccess;
  conversation: Conversation;
  userId: string;
}

/**
 * Who may act on a conversation: bank staff of that bank, and the contracted KSC's agents for their
 * organisation's KSC chats and their own. Anyone else gets 404 (existence is not revealed). Every KSC
 * access is written to the bank's own audit log, because the bank must be able to show who outside it
 * read its customers' chats.
 */
export async function accessConversation(
  services: Services,
  ctx: RequestContext,
  slug: string,
  conversationId: string,
  action: string,
): Promise<ConversationAccess> {
  const actor: Actor = ctx.actor;
  if (actor.kind !== "user") throw forbidden("This route needs a signed-in person, not an API key");
  const access = await resolveTenant(services.db, actor, slug, { roles: CONVERSATION_ROLES });
  const conversation = await services.db
    .withSchema(access.schema)
    .selectFrom("conversations")
    .selectAll()
    .where("id", "=", conversationId)
    .executeTakeFirst();
  if (!conversation) throw notFound("Conversation");
  if (access.via === "ksc") {
    const scope = kscScopeOf(access, actor.userId);
    // Only its own organisation's KSC chats and its own (tenants/ksc-scope), never another's.
    if (!scope || !kscMaySee(conversation, scope)) throw notFound("Conversation");
    await auditTenant(services.db, access.schema, actor, {
      action: `ksc.conversation.${action}`,
      targetType: "conversation",
      targetId: conversation.id,
      details: { kscOrg: access.membership?.kscOrgSlug ?? null },
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
    });
  }
  return { access, conversation, userId: actor.userId };
}
