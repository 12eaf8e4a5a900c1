import { sql } from "@kanal/db";
import type { SchemaMigration } from "@kanal/db/migration";

/**
 * The KSC organisation that handles (or queues for) each conversation, so that a bank changing its KSC
 * does not hand the previous organisation's chats to the new one. Existing KSC chats get the
 * organisation contracted now (the only one that could have handled them so far).
 */
export const migration: SchemaMigration = {
  name: "0006_conversation_ksc_org",
  up: async (trx, schema) => {
    await sql`alter table ${sql.id(schema, "conversations")} add column ksc_org_id text`.execute(trx);
    await sql`
      update ${sql.id(schema, "conversations")} as c set ksc_org_id = k.ksc_org_id
      from control.ksc_contracts k join control.tenants t on t.id = k.tenant_id
      where t.schema_name = ${schema} and (c.handled_by = 'ksc' or c.queue = 'ksc')`.execute(trx);
  },
};
