import { bankWebhookProjection } from "../bank-webhooks/projection";
import type { Services } from "../services";
import { awayMessageListener } from "./away";
import { realtimeListener } from "./realtime";
import { routingJobsListener } from "./routing-jobs";

/**
 * The process's listeners for committed domain events: the only code that turns them into effects.
 * Order matters only for latency: the agent's event first, then jobs, then the away message.
 */
export function registerListeners(services: Services): void {
  services.events.register("realtime", realtimeListener(services));
  services.events.register("routing-jobs", routingJobsListener(services));
  services.events.register("away-message", awayMessageListener(services));
  // Not a listener: the bank's webhook deliveries are written in the committing transaction (at least once).
  services.events.registerProjection("bank-webhooks", bankWebhookProjection(services));
}

export { renderAwayMessage } from "./away";
export { agentEventsOf } from "./realtime";
export { type AfterInboundOutcome, handleAfterInbound } from "./rule-follow-ups";
