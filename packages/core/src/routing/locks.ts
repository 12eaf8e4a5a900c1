import { sql } from "@kanal/db";
import type { Executor } from "./context";

/**
 * Serialises every routing write that can raise a bank's in-house load (route, back-fill, take,
 * handover, reassignment, closing policy). Held to the end of the transaction; the lock order
 * everywhere is: bank lock → conversation row(s) → agent_state row(s) by user id. See ADR 0005.
 */
export async function lockBankRouting(db: Executor, tenantId: string): Promise<void> {
  await sql`select ${bankRoutingLockSql(tenantId)}`.execute(db);
}

/** The bank lock as an expression, for a statement that takes it on the way (the ingest's insert). */
export function bankRoutingLockSql(tenantId: string) {
  return sql`pg_advisory_xact_lock(hashtextextended(${`kanal.routing.bank.${tenantId}`}, 0))`;
}

/**
 * Takes one chat slot of a person: a guarded increment that only succeeds while they are below
 * their maximum (and, for automatic routing, online). The updated row stays locked until commit, so
 * a concurrent claim on the same person waits and re-checks the guard against the new count.
 */
export async function claimAgentSlot(
  db: Executor,
  userId: string,
  maxChats: number | null,
  options: { requireOnline: boolean } = { requireOnline: true },
): Promise<boolean> {
  if (!options.requireOnline) {
    // Manual assignment to a named person may target someone offline, who may have no row yet.
    await db
      .withSchema("control")
      .insertInto("agent_state")
      .values({ user_id: userId, presence_changed_at: new Date() })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
  }
  const updated = await claimAgentSlotSql(userId, maxChats, options).execute(db);
  return updated.rows.length > 0;
}

/**
 * The guarded increment of claimAgentSlot as a statement of its own, for callers that fold it into a
 * larger one (`with claim as (…)`): returns the person's row when the slot was taken, nothing otherwise.
 */
export function claimAgentSlotSql(
  userId: string,
  maxChats: number | null,
  options: { requireOnline: boolean } = { requireOnline: true },
) {
  return sql`update control.agent_state set open_count = open_count + 1, last_assigned_at = now()
    where user_id = ${userId}
    ${maxChats !== null ? sql`and open_count < ${maxChats}` : sql``}
    ${options.requireOnline ? sql`and presence = 'online'` : sql``}
    returning user_id, open_count`;
}

/** Gives a slot back (chat closed, handed over, moved to a queue). */
export async function releaseAgentSlot(db: Executor, userId: string | null): Promise<void> {
  if (!userId) return;
  await db
    .withSchema("control")
    .updateTable("agent_state")
    // Never below zero, even if a row was repaired by hand in between.
    .set({ open_count: sql`greatest(open_count - 1, 0)` })
    .where("user_id", "=", userId)
    .execute();
}
