import { type RawBuilder, sql } from "@kanal/db";
import type { TenantAccess } from "./access";

/**
 * What a contracted KSC's agent may see of a bank's conversations, defined once for every read and
 * write path (list, detail and its history, media, the verbs, the inbox, the rule guidance):
 *
 *   conversations.ksc_org_id = the agent's organisation
 *   AND (the chat is the KSC's now — handled_by = 'ksc' or waiting in the KSC queue — or the agent holds it)
 *
 * `ksc_org_id` records the last KSC organisation that handled or queued the chat, so after a bank changes
 * its KSC the new organisation sees only what it handled itself (or what was moved to it at the change),
 * never what the previous one handled.
 */
export interface KscScope {
  /** the viewer's KSC organisation */
  orgId: string;
  /** the viewer (null where only the organisation matters: a KSC agent's own chat is always handled_by 'ksc') */
  userId: string | null;
}

/** The KSC scope of a tenant access, or null when the viewer is not a KSC agent (bank staff see everything). */
export function kscScopeOf(access: TenantAccess, userId: string | null): KscScope | null {
  if (access.via !== "ksc") return null;
  // resolveTenant only grants "ksc" through a membership of the contracted organisation; without one
  // nothing matches ("" is no organisation's id).
  return { orgId: access.membership?.kscOrgId ?? "", userId };
}

/** The columns the rule reads. */
interface KscVisibleRow {
  ksc_org_id: string | null;
  handled_by: string | null;
  queue: string | null;
  assignee_user_id: string | null;
}

export function kscMaySee(row: KscVisibleRow, scope: KscScope): boolean {
  if (row.ksc_org_id === null || row.ksc_org_id !== scope.orgId) return false;
  return (
    row.handled_by === "ksc" ||
    row.queue === "ksc" ||
    (scope.userId !== null && row.assignee_user_id === scope.userId)
  );
}

/** The same rule as a SQL condition on the conversations table (or its alias) for a `where`. */
export function kscMaySeeSql(scope: KscScope, alias?: string): RawBuilder<boolean> {
  const col = (name: string) => sql.ref(alias ? `${alias}.${name}` : name);
  return sql<boolean>`(${col("ksc_org_id")} = ${scope.orgId} and (${col("handled_by")} = 'ksc'
    or ${col("queue")} = 'ksc'${scope.userId !== null ? sql` or ${col("assignee_user_id")} = ${scope.userId}` : sql``}))`;
}
