import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * Indexes for the rules/data-protection features: the retention sweep looks for closed conversations by
 * closing time; the "top requests" report counts inbound messages per rule in a period.
 */
export const migration: SchemaMigration = {
  name: "0004_rules_data_protection",
  up: ddl(`
create index if not exists conversations_closed_at on {schema}.conversations (closed_at) where status = 'closed';
create index if not exists messages_inbound_topic on {schema}.messages (created_at, rule_id) where direction = 'inbound';
`),
};
