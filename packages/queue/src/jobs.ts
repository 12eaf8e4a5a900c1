import { z } from "zod";

/** Job payloads carry ids only — never message texts — and are validated where they are processed. */
export const processEventJob = z.object({ eventId: z.string().regex(/^\d+$/) });
/** The most stored events one `process-events` job carries (the relay splits larger batches). */
export const MAX_EVENTS_PER_JOB = 100;
/** One job for a batch of stored webhook events (what the API's relay enqueues; `process-event` stays valid). */
export const processEventsJob = z.object({
  eventIds: z.array(z.string().regex(/^\d+$/)).min(1).max(MAX_EVENTS_PER_JOB),
});
export const sendJob = z.object({ tenantId: z.string().min(1), messageId: z.string().startsWith("msg_") });
export const sendBatchJob = z.object({
  tenantId: z.string().min(1),
  messageIds: z.array(z.string().startsWith("msg_")).min(1).max(500),
});
export const markReadJob = z.object({
  tenantId: z.string().min(1),
  conversationId: z.string().startsWith("conv_"),
});
export const fetchMediaJob = sendJob;
export const routeConversationJob = z.object({
  tenantId: z.string().min(1),
  conversationId: z.string().startsWith("conv_"),
  trigger: z.enum(["new", "reopen", "requeue"]).default("new"),
});
export const afterInboundJob = z.object({
  tenantId: z.string().min(1),
  conversationId: z.string(),
  messageId: z.string(),
  ruleId: z.string().nullable(),
  ruleVersion: z.number().nullable(),
  sensitiveKinds: z.array(z.string()),
});

export type SendJob = z.infer<typeof sendJob>;
export type SendBatchJob = z.infer<typeof sendBatchJob>;
export type ProcessEventJob = z.infer<typeof processEventJob>;
export type ProcessEventsJob = z.infer<typeof processEventsJob>;
