import { sql } from "@kanal/db";
import type { Executor } from "../kernel/executor";

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
 * Takes one chat slot of a person, as a statement to fold into a larger one (`with claim as (…)`): a
 * guarded increment that only succeeds while they are below their maximum (and, for automatic routing,
 * online). The updated row stays locked until commit, so a concurrent claim on the same person waits and
 * re-checks the guard against the new count. Returns the person's row when the slot was taken, nothing
 * otherwise.
 */
export function claimAgentSlotSql(
  userId: string,
  maxChats: number | null,
  options: { requireOnline: boolean; contractedTo?: { tenantId: string; kscOrgId: string } } = {
    requireOnline: true,
  },
) {
  const contract = options.contractedTo;
  return sql`update control.agent_state set open_count = open_count + 1, last_assigned_at = now()
    where user_id = ${userId}
    ${maxChats !== null ? sql`and open_count < ${maxChats}` : sql``}
    ${options.requireOnline ? sql`and presence = 'online'` : sql``}
    ${
      // A KSC agent gets a chat only while their organisation is the bank's KSC: the caller read the
      // contract before it took the bank's lock, and a contract change may have committed in between.
      contract
        ? sql`and exists (select 1 from control.ksc_contracts k
            where k.tenant_id = ${contract.tenantId} and k.ksc_org_id = ${contract.kscOrgId})`
        : sql``
    }
    returning user_id, open_count`;
}
