import { z } from "zod";

/**
 * The payloads of the Server-Sent Events a signed-in person receives on `GET /v1/events`, defined once:
 * the API's realtime listener builds them, the web console reads them. Every payload that carries
 * free text (a handover note, a reason) was masked for its viewer before it was published, as the REST
 * detail is (a KSC agent sees IBANs masked).
 */
export const handledBy = z.enum(["in_house", "ksc", "advisor"]);
export const assignedBy = z.enum(["routing", "handover", "rule", "backfill", "take"]);

export const conversationAssigned = z.object({
  tenant: z.string(),
  tenantId: z.string(),
  conversationId: z.string(),
  /** who gets the chat: the receiver of this event */
  assigneeUserId: z.string(),
  handledBy,
  /** the KSC organisation that handles it, when the KSC does */
  kscOrgId: z.string().nullable(),
  by: assignedBy,
  /** the routing rule or verb that decided it (`mode.in_house`, `handover.person`, `queue.backfill` …) */
  rule: z.string(),
  reason: z.string(),
  /** who handed it over (by "handover") */
  fromUserId: z.string().nullable(),
  /** the internal handover note, masked for the receiver */
  note: z.string().nullable(),
});

export const conversationChange = z.enum([
  "handed_over",
  "requeued",
  "reassigned",
  "closed",
  "callback_suggested",
  "advisor_preselected",
]);

export const conversationUpdated = z.object({
  tenant: z.string(),
  tenantId: z.string(),
  conversationId: z.string(),
  change: conversationChange,
  status: z.enum(["queued", "open", "closed"]),
  /** who holds the chat now (null while it waits in a queue or after closing) */
  assigneeUserId: z.string().nullable(),
  queue: z.enum(["bank", "ksc"]).nullable(),
  reason: z.string().nullable(),
  /** the internal handover note, masked for the receiver */
  note: z.string().nullable(),
  /** the rule-book topic behind a suggestion or a rule-driven change */
  topic: z.string().nullable(),
});

export const messageCreated = z.object({
  tenant: z.string(),
  tenantId: z.string(),
  conversationId: z.string(),
  messageId: z.string(),
  direction: z.enum(["inbound", "outbound", "internal"]),
  customerName: z.string().nullable(),
});

export const messageStatus = z.object({
  tenant: z.string(),
  tenantId: z.string(),
  conversationId: z.string(),
  messageId: z.string(),
  status: z.string(),
});

export const agentEventSchemas = {
  "conversation.assigned": conversationAssigned,
  "conversation.updated": conversationUpdated,
  "message.created": messageCreated,
  "message.status": messageStatus,
} as const;

export type AgentEventType = keyof typeof agentEventSchemas;
export const AGENT_EVENT_TYPES = Object.keys(agentEventSchemas) as AgentEventType[];

export type ConversationAssigned = z.infer<typeof conversationAssigned>;
export type ConversationUpdated = z.infer<typeof conversationUpdated>;
export type ConversationChange = z.infer<typeof conversationChange>;
export type MessageCreated = z.infer<typeof messageCreated>;
export type MessageStatus = z.infer<typeof messageStatus>;
export type AssignedBy = z.infer<typeof assignedBy>;

/** Type and payload of every agent event, as one discriminated union. */
export type AgentEventPayload =
  | { type: "conversation.assigned"; data: ConversationAssigned }
  | { type: "conversation.updated"; data: ConversationUpdated }
  | { type: "message.created"; data: MessageCreated }
  | { type: "message.status"; data: MessageStatus };
