import type { AgentEventPayload } from "@kanal/contracts/events";
import type { DomainEvent } from "../kernel/domain-events";
import { publishToUsers } from "../realtime/stream";
import { viewText } from "../rules/guard";
import type { Services } from "../services";

/**
 * The realtime push, the only code that writes to the agents' event streams (chatwoot's
 * ActionCableListener): each committed domain event becomes the typed payload of @kanal/contracts for
 * the person it concerns, with every free text masked for that person as the REST detail masks it. A
 * payload is stored in the person's Redis stream for replay, so it must be masked before it is published.
 */
export function agentEventsOf(event: DomainEvent): { userId: string; event: AgentEventPayload }[] {
  const base = { tenant: event.bank.slug, tenantId: event.bank.id, conversationId: event.conversationId };
  switch (event.type) {
    case "conversation.assigned": {
      const viewer = event.handledBy === "ksc" ? "ksc" : "bank";
      return [
        {
          userId: event.userId,
          event: {
            type: "conversation.assigned",
            data: {
              ...base,
              assigneeUserId: event.userId,
              handledBy: event.handledBy,
              kscOrgId: event.kscOrgId,
              by: event.by,
              rule: event.rule,
              reason: event.reason,
              fromUserId: event.fromUserId,
              note: viewText(event.note, viewer),
            },
          },
        },
      ];
    }
    case "conversation.released":
      // Nobody is told about their own action.
      if (event.byUserId === event.userId) return [];
      return [
        {
          userId: event.userId,
          event: {
            type: "conversation.updated",
            data: {
              ...base,
              change: event.change,
              status: event.status,
              assigneeUserId: event.assigneeUserId,
              queue: event.queue,
              reason: event.reason,
              note: viewText(event.note, event.viewer),
              topic: event.topic,
            },
          },
        },
      ];
    case "conversation.suggested":
      return [
        {
          userId: event.userId,
          event: {
            type: "conversation.updated",
            data: {
              ...base,
              change: event.change,
              status: event.status,
              assigneeUserId: event.status === "open" ? event.userId : null,
              queue: event.status === "queued" ? "bank" : null,
              reason: viewText(event.reason, event.viewer),
              note: null,
              topic: event.topic,
            },
          },
        },
      ];
    case "message.received":
      if (!event.assigneeUserId) return [];
      return [
        {
          userId: event.assigneeUserId,
          event: {
            type: "message.created",
            data: {
              ...base,
              messageId: event.messageId,
              direction: "inbound",
              customerName: event.customerName,
            },
          },
        },
      ];
    case "message.status":
      if (!event.assigneeUserId) return [];
      return [
        {
          userId: event.assigneeUserId,
          event: {
            type: "message.status",
            data: { ...base, messageId: event.messageId, status: event.status },
          },
        },
      ];
    case "conversation.queued":
    case "conversation.away_due":
    // For the bank's systems (core/bank-webhooks), not the agents' streams.
    case "conversation.closed":
    case "callback.requested":
    case "customer.opted_out":
    case "customer.opted_in":
    case "notification.status":
    case "notification.reply":
      return [];
  }
}

export function realtimeListener(services: Services) {
  return async (events: readonly DomainEvent[]): Promise<void> => {
    for (const event of events) {
      for (const { userId, event: payload } of agentEventsOf(event)) {
        await publishToUsers(services.redis, services.config.QUEUE_PREFIX, [userId], payload);
      }
    }
  };
}
