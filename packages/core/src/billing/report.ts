import { sql } from "@kanal/db";
import type { Services } from "../services";
import { isStripeError, METER_EVENT_NAMES, stripeClient } from "./stripe";
import { billingDb, type UsageKind } from "./tables";
import { mapLimit } from "../kernel/map-limit";

interface ReportOptions {
  /** Rows per transaction; each batch is sent, then marked, then committed. */
  batchSize?: number;
  /** Meter events in flight at once. */
  concurrency?: number;
  /** Test seam: runs after a batch was sent to Stripe and before it is marked (where a crash hurts most). */
  afterSend?: (batch: number, sent: number) => Promise<void> | void;
}

interface ReportResult {
  reported: number;
  unreportable: number;
  failed: number;
}

type Outcome =
  | { id: string; result: "reported" }
  | { id: string; result: "unreportable"; error: string }
  | { id: string; result: "failed"; error: string };

/**
 * Sends the bank's unreported billable events to Stripe as Billing Meter events and marks them.
 * Exactly-once toward Stripe rests on three things: rows are locked per batch (FOR UPDATE SKIP LOCKED,
 * so two runners never send the same row), each event carries the row id as its meter-event
 * `identifier` and as the idempotency key (a batch sent but not marked — crash, kill, lost commit — is
 * sent again and Stripe answers with the first result instead of counting twice), and a row is marked
 * reported in the same transaction that held its lock.
 */
export async function reportTenantUsage(
  services: Services,
  tenant: { id: string; schema: string },
  options: ReportOptions = {},
): Promise<ReportResult> {
  const result: ReportResult = { reported: 0, unreportable: 0, failed: 0 };
  const stripe = stripeClient(services.config);
  if (!stripe) return result;
  const db = billingDb(services.db);
  const account = await db
    .withSchema("control")
    .selectFrom("billing_accounts")
    .select("stripe_customer_id")
    .where("tenant_id", "=", tenant.id)
    .executeTakeFirst();
  const customerId = account?.stripe_customer_id;
  // Usage waits, counted, until the bank has a Stripe customer; then it is reported with its own times.
  if (!customerId) return result;

  const batchSize = options.batchSize ?? 200;
  const concurrency = options.concurrency ?? 8;
  const send = async (row: { id: string; kind: UsageKind; occurred_at: Date }): Promise<Outcome> => {
    try {
      await stripe.billing.meterEvents.create(
        {
          event_name: METER_EVENT_NAMES[row.kind],
          identifier: row.id,
          timestamp: Math.floor(row.occurred_at.getTime() / 1000),
          payload: { stripe_customer_id: customerId, value: "1" },
        },
        { idempotencyKey: `kanal-meter-${row.id}` },
      );
      return { id: row.id, result: "reported" };
    } catch (error) {
      if (isStripeError(error) && error.code === "resource_already_exists") {
        // Stripe already holds an event with this identifier (sent by an attempt whose key expired).
        return { id: row.id, result: "reported" };
      }
      if (isStripeError(error) && error.type === "StripeInvalidRequestError" && error.statusCode === 400) {
        // Retrying cannot help (e.g. older than Stripe's 35 days): kept visible for finance, not resent.
        return {
          id: row.id,
          result: "unreportable",
          error: `${error.code ?? "invalid_request"}: ${error.message}`.slice(0, 500),
        };
      }
      return { id: row.id, result: "failed", error: String((error as Error)?.message ?? error) };
    }
  };

  let batch = 0;
  for (;;) {
    batch++;
    const outcomes = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .withSchema(tenant.schema)
        .selectFrom("billing_usage")
        .select(["id", "kind", "occurred_at"])
        .where("reported_at", "is", null)
        .where("report_error", "is", null)
        .orderBy("occurred_at")
        .orderBy("id")
        .limit(batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length === 0) return null;
      const sent = await mapLimit(rows, concurrency, send);
      await options.afterSend?.(batch, sent.filter((o) => o.result === "reported").length);
      const reported = sent.filter((o) => o.result === "reported").map((o) => o.id);
      if (reported.length > 0) {
        await trx
          .withSchema(tenant.schema)
          .updateTable("billing_usage")
          .set({ reported_at: sql`now()` })
          .where("id", "in", reported)
          .execute();
      }
      for (const o of sent) {
        if (o.result !== "unreportable") continue;
        await trx
          .withSchema(tenant.schema)
          .updateTable("billing_usage")
          .set({ report_error: o.error })
          .where("id", "=", o.id)
          .execute();
      }
      return sent;
    });
    if (!outcomes) break;
    for (const o of outcomes) result[o.result]++;
    const failures = outcomes.filter((o) => o.result === "failed");
    if (failures.length > 0) {
      // What was accepted is committed; the job fails so BullMQ retries the rest with backoff.
      throw new Error(
        `${failures.length} meter events not accepted by Stripe (first: ${failures[0]?.result === "failed" ? failures[0].error : ""})`,
      );
    }
  }
  return result;
}
