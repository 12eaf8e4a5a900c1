import { conflict, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { accessConversation } from "./access";
import { bankRef, loadBankContext } from "./bank";
import { type RoutedConversation, routedOf } from "./handover";
import { findPerson } from "./people";
import { assign, lockConversation } from "./transitions";

/** Takes a waiting chat by hand (the "take from queue" button): exactly one person wins a race. */
export async function takeConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
): Promise<RoutedConversation> {
  const { access, userId } = await accessConversation(services, rctx, slug, conversationId, "take");
  const ctx = await loadBankContext(services.db, access.tenant.id);
  const person = await findPerson(services.db, ctx, userId);
  if (!person) throw notFound("Conversation");
  const now = new Date();
  return inTransaction(services, async (trx, changes) => {
    const row = await lockConversation(trx, bankRef(ctx.tenant), conversationId);
    if (row.status !== "queued") throw conflict("Somebody already took this conversation");
    if (person.handledBy === "ksc" && row.queue !== "ksc") throw notFound("Conversation");
    const side = row.queue === "ksc" ? "KSC" : "bank";
    const result = await assign(trx, bankRef(ctx.tenant), row, {
      userId,
      handledBy: person.handledBy,
      kscOrgId: person.kscOrgId,
      maxChats: person.maxChats,
      requireOnline: false,
      by: "take",
      byUserId: userId,
      decision: {
        ...((row.routing ?? {}) as Record<string, unknown>),
        mode: ctx.config.mode,
        rule: "queue.taken",
        reason: `Taken from the ${side} queue by ${person.name}.`,
        reasonDe: `Von ${person.name} aus der ${side === "KSC" ? "KSC" : "Bank"}-Warteschlange übernommen.`,
        target: { type: "agent", userId, handledBy: person.handledBy },
        candidates: [],
        trigger: "take",
        decidedAt: now.toISOString(),
      },
      now,
    });
    if (!result) throw conflict(`You already hold your maximum of ${person.maxChats} chats`);
    changes.emit(...result.events);
    return routedOf(row.id, result);
  });
}
