import { z } from "zod";

/**
 * Every job's payload, defined once with zod: producers build it, the worker validates it before a
 * processor sees it (a malformed or foreign job fails loudly instead of running on guesses). Payloads
 * carry ids only — never message texts.
 */
const id = (prefix: string) => z.string().startsWith(prefix).max(64);
const tenantId = z.string().min(1).max(64);
const nothing = z.object({}).loose();

/** The most stored events one `process-events` job carries (the relay splits larger batches). */
export const MAX_EVENTS_PER_JOB = 100;
/** The most messages one `send-batch` job carries. */
export const MAX_MESSAGES_PER_BATCH = 500;

export const processEventJob = z.object({ eventId: z.string().regex(/^\d+$/) });
export const processEventsJob = z.object({
  eventIds: z.array(z.string().regex(/^\d+$/)).min(1).max(MAX_EVENTS_PER_JOB),
});
export const messageJob = z.object({ tenantId, messageId: id("msg_") });
export const sendBatchJob = z.object({
  tenantId,
  messageIds: z.array(id("msg_")).min(1).max(MAX_MESSAGES_PER_BATCH),
});
export const conversationJob = z.object({ tenantId, conversationId: id("conv_") });
export const routeConversationJob = conversationJob.extend({
  trigger: z.enum(["new", "reopen", "requeue"]).default("new"),
});
export const afterInboundJob = z.object({
  tenantId,
  conversationId: id("conv_"),
  messageId: id("msg_"),
  ruleId: z.string().max(200).nullable(),
  ruleVersion: z.number().int().nullable(),
  sensitiveKinds: z.array(z.string().max(40)).max(20),
});
export const userJob = z.object({ userId: z.string().min(1).max(64) });
export const drainQueueJob = z.object({ tenantId, side: z.enum(["bank", "ksc"]) });
export const tenantJob = z.object({ tenantId });
/** One attempt of one delivery of an event to a bank's webhook endpoint (core/bank-webhooks). */
const deliverWebhookJob = z.object({
  tenantId,
  deliveryId: id("whd_"),
  /** the attempt this job makes (1 = the first); an attempt already made or overtaken is skipped */
  attempt: z.number().int().min(1).max(1_000),
});

/** Queue → job name → payload schema. A job name not listed here is refused by the worker. */
export const JOBS = {
  inbound: {
    "process-event": processEventJob,
    "process-events": processEventsJob,
    "fetch-media": messageJob,
    "after-inbound": afterInboundJob,
    "webhook-sweep": nothing,
    "outbox-sweep": nothing,
  },
  dispatch: {
    send: messageJob,
    "send-batch": sendBatchJob,
    "mark-read": conversationJob,
  },
  routing: {
    "route-conversation": routeConversationJob,
    backfill: userJob,
    "drain-queue": drainQueueJob,
    "tick-tenant": tenantJob,
    "routing-tick": nothing,
  },
  maintenance: {
    "presence-sweep": nothing,
    "retention-sweep": nothing,
    "templates-sweep": nothing,
    "sync-templates": tenantJob,
    "sessions-sweep": nothing,
  },
  webhooks: {
    "deliver-webhook": deliverWebhookJob,
  },
  billing: {
    "setup-account": tenantJob,
    "sweep-accounts": nothing,
    "usage-tick": nothing,
    "invoice-tick": nothing,
    "sync-invoices": tenantJob,
    "report-usage": tenantJob,
  },
} as const;

export type JobCatalogue = typeof JOBS;
export type QueueKey = keyof JobCatalogue;
export type JobName<Q extends QueueKey> = keyof JobCatalogue[Q] & string;
export type JobData<Q extends QueueKey, N extends JobName<Q>> = JobCatalogue[Q][N] extends z.ZodType
  ? z.input<JobCatalogue[Q][N]>
  : never;
export type ParsedJobData<Q extends QueueKey, N extends JobName<Q>> = JobCatalogue[Q][N] extends z.ZodType
  ? z.output<JobCatalogue[Q][N]>
  : never;

/** The schema of a named job of a queue, or undefined for a name the queue does not know. */
export function jobSchema(queue: QueueKey, name: string): z.ZodType | undefined {
  return (JOBS[queue] as Record<string, z.ZodType>)[name];
}

export type AfterInboundJob = z.infer<typeof afterInboundJob>;
export type ProcessEventsJob = z.infer<typeof processEventsJob>;
