import type { AssignedBy } from "@kanal/contracts/events";

/**
 * What a committed transaction tells the rest of the system. The conversation verbs return these; the
 * caller hands them to `Services.events` after commit, and the listeners (core/listeners) turn them into
 * effects: the realtime push, routing jobs, the away message. Nothing here is sent before commit, so an
 * agent is never told about a chat that a rolled-back transaction did not give them.
 */

export type HandledBy = "in_house" | "ksc" | "advisor";
export type QueueSide = "bank" | "ksc";
/** Who reads a payload: the bank's own staff, or a contracted KSC's agent (IBANs masked). */
export type Viewer = "bank" | "ksc";

/** The bank a conversation belongs to, as events carry it. */
export interface BankRef {
  id: string;
  slug: string;
  schema: string;
}

export type { AssignedBy };
export type QueuedBy = "routing" | "handover" | "rule" | "closing" | "contract";
export type ReleaseChange = "handed_over" | "requeued" | "reassigned" | "closed";

export type DomainEvent =
  | {
      type: "conversation.assigned";
      bank: BankRef;
      conversationId: string;
      userId: string;
      handledBy: HandledBy;
      kscOrgId: string | null;
      by: AssignedBy;
      rule: string;
      reason: string;
      fromUserId: string | null;
      /** the internal note as stored (masked for storage); the realtime listener masks it per viewer */
      note: string | null;
    }
  | {
      type: "conversation.queued";
      bank: BankRef;
      conversationId: string;
      queue: QueueSide;
      by: QueuedBy;
    }
  | {
      /** Somebody lost a chat they held (handed over, requeued, reassigned, closed by someone else). */
      type: "conversation.released";
      bank: BankRef;
      conversationId: string;
      userId: string;
      viewer: Viewer;
      change: ReleaseChange;
      /** who did it (null: the system); the holder is not told about their own action */
      byUserId: string | null;
      status: "queued" | "open" | "closed";
      assigneeUserId: string | null;
      queue: QueueSide | null;
      reason: string | null;
      note: string | null;
      topic: string | null;
    }
  | {
      /** The customer should get the away message for this closed period (claimed by the listener). */
      type: "conversation.away_due";
      bank: BankRef;
      conversationId: string;
      periodKey: string;
      nextOpening: Date | null;
    }
  | {
      type: "conversation.suggested";
      bank: BankRef;
      conversationId: string;
      userId: string;
      viewer: Viewer;
      change: "callback_suggested" | "advisor_preselected";
      status: "queued" | "open";
      topic: string | null;
      reason: string | null;
    }
  | {
      type: "message.received";
      bank: BankRef;
      conversationId: string;
      messageId: string;
      assigneeUserId: string | null;
      customerName: string | null;
    }
  | {
      type: "message.status";
      bank: BankRef;
      conversationId: string;
      messageId: string;
      status: string;
      assigneeUserId: string | null;
    }
  | {
      /** The chat was closed (by a person, or by the system when byUserId is null). */
      type: "conversation.closed";
      bank: BankRef;
      conversationId: string;
      customerId: string;
      byUserId: string | null;
      /** who held it when it closed (null: it was waiting in a queue) */
      assigneeUserId: string | null;
      handledBy: HandledBy | null;
      closedAt: Date;
    }
  | {
      /** Rückruf: somebody asked the bank to call the customer back. */
      type: "callback.requested";
      bank: BankRef;
      conversationId: string;
      callbackId: string;
      byUserId: string | null;
    }
  | {
      /** The customer wrote STOP (opted out of notifications) or START (opted in). */
      type: "customer.opted_out" | "customer.opted_in";
      bank: BankRef;
      customerId: string;
      /** the conversation the keyword came in */
      conversationId: string;
      messageId: string;
      via: "whatsapp";
      at: Date;
    }
  | {
      /** A notification's message moved on at Meta (sent, delivered, read) or failed, with Meta's reason. */
      type: "notification.status";
      bank: BankRef;
      notificationId: string;
      campaignId: string | null;
      customerId: string;
      /** where the notification's message is (the customer's open chat, or their notification thread) */
      conversationId: string;
      messageId: string;
      status: NotificationStatus;
      error: { code: number | null; title: string | null; details: string | null } | null;
      at: Date;
    }
  | {
      /** The customer answered a notification with one of its quick-reply buttons. */
      type: "notification.reply";
      bank: BankRef;
      notificationId: string;
      campaignId: string | null;
      customerId: string;
      /** where the answer is stored (a new or open chat when the answer needs somebody) */
      conversationId: string;
      /** the customer's message */
      messageId: string;
      /** the answer's code (`card_tx_confirmed`, `card_tx_not_me`, `button_<index>`), the button's text and payload */
      answer: { code: string; text: string | null; payload: string | null };
      /** the answer opened (or moved) a chat for the bank, as a card alert's "not me" does */
      escalated: boolean;
      at: Date;
    };

/** A notification's status as the bank's systems see it (Kanal's own steps before Meta's are `queued`). */
export type NotificationStatus = "queued" | "sent" | "delivered" | "read" | "failed";

export type DomainEventType = DomainEvent["type"];

/** Where committed events go: the listeners a process registered (core/listeners). */
export interface DomainEventBus {
  /** Runs every listener for the events; a failing listener is logged, never thrown to the caller. */
  emit(events: readonly DomainEvent[]): Promise<void>;
}
