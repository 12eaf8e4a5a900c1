import { DateTime } from "luxon";
import { writeSystemMessage } from "../channel/send";
import { loadBankContext } from "../conversations/bank";
import type { DomainEvent } from "../kernel/domain-events";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";

/** The bank's away message with the next opening filled in, in the bank's own time zone and in German. */
export function renderAwayMessage(template: string, nextOpening: Date | null, timezone: string): string {
  const when = nextOpening
    ? DateTime.fromJSDate(nextOpening, { zone: timezone })
        .setLocale("de")
        .toFormat("cccc, d. LLLL yyyy, HH:mm 'Uhr'")
    : "baldmöglichst";
  return template.replaceAll("{{naechsteOeffnung}}", when).replaceAll("{{nextOpening}}", when);
}

/**
 * The away message, once per conversation and closed period: the listener of `conversation.away_due`
 * (emitted by routing and by the closing policy) claims the period on the conversation and writes the
 * message with its dispatch job in one transaction, so a retry, a second message in the same period or
 * a second tick never sends it twice. A claim lost to a crash before it committed is made again by the
 * closing policy's next tick.
 */
export function awayMessageListener(services: Services) {
  return async (events: readonly DomainEvent[]): Promise<void> => {
    for (const event of events) {
      if (event.type !== "conversation.away_due") continue;
      const ctx = await loadBankContext(services.db, event.bank.id);
      await inTransaction(services, async (trx, changes) => {
        const claimed = await trx
          .withSchema(ctx.schema)
          .updateTable("conversations")
          .set({ away_sent_period: event.periodKey })
          .where("id", "=", event.conversationId)
          .where("status", "<>", "closed")
          .where((eb) =>
            eb.or([eb("away_sent_period", "is", null), eb("away_sent_period", "<>", event.periodKey)]),
          )
          .returning("id")
          .executeTakeFirst();
        if (!claimed) return;
        await writeSystemMessage(trx, changes, {
          tenant: ctx.tenant,
          conversationId: event.conversationId,
          text: renderAwayMessage(ctx.config.awayMessage, event.nextOpening, ctx.tenant.timezone),
          kind: "away",
        });
      });
    }
  };
}
