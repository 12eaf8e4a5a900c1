import type { Db, Transaction, Database } from "@kanal/db";
import { auditActor, type Actor } from "./actor";

interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  details?: Record<string, unknown>;
  ip?: string | null;
  requestId?: string | null;
}

type Executor = Db | Transaction<Database>;

/** Writes an audit row into the bank's own schema, in the caller's transaction. */
export async function auditTenant(
  db: Executor,
  schema: string,
  actor: Actor,
  entry: AuditEntry,
): Promise<void> {
  await db
    .withSchema(schema)
    .insertInto("audit_log")
    .values({
      ...auditActor(actor),
      action: entry.action,
      target_type: entry.targetType ?? null,
      target_id: entry.targetId ?? null,
      details: JSON.stringify(entry.details ?? {}),
      ip: entry.ip ?? null,
      request_id: entry.requestId ?? null,
    })
    .execute();
}

/** Provider-level actions (onboarding, KSC organisations) are audited in the control schema. */
export async function auditControl(
  db: Executor,
  actor: Actor,
  entry: AuditEntry & { tenantId?: string | null },
): Promise<void> {
  await db
    .withSchema("control")
    .insertInto("audit_log")
    .values({
      ...auditActor(actor),
      action: entry.action,
      target_type: entry.targetType ?? null,
      target_id: entry.targetId ?? null,
      tenant_id: entry.tenantId ?? null,
      details: JSON.stringify(entry.details ?? {}),
      ip: entry.ip ?? null,
      request_id: entry.requestId ?? null,
    })
    .execute();
}
