import { DateTime } from "luxon";
import type { Tenant } from "@kanal/db";
import { queueSystemMessage } from "../channel/send";
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
 * Queues the away message after the routing transaction committed. The caller has already recorded
 * the closed period in conversations.away_sent_period inside that transaction, so a retry or a second
 * message in the same closed period never sends it twice.
 */
export async function sendAwayMessage(
  services: Services,
  tenant: Tenant,
  conversationId: string,
  template: string,
  nextOpening: Date | null,
): Promise<void> {
  await queueSystemMessage(services, {
    tenant,
    conversationId,
    text: renderAwayMessage(template, nextOpening, tenant.timezone),
    kind: "away",
  });
}
