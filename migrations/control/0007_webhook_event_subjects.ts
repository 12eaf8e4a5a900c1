import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * Whom a stored webhook event is about, recorded when the worker has processed it: the bank it belonged
 * to (null while pending, for an unknown number, or when one POST carried several banks' traffic) and the
 * customers' WhatsApp ids it names (senders, contacts, status recipients). Erasure finds a customer's raw
 * events by these (GIN), retention finds old events by their receipt time. Pending rows carry neither, so
 * the webhook insert pays for no new index entry; existing rows stay without subjects and are found by
 * erasure's text search until the retention sweep has removed them.
 */
export const migration: SchemaMigration = {
  name: "0007_webhook_event_subjects",
  up: ddl(`
alter table {schema}.webhook_events add column tenant_id text, add column wa_ids text[];
create index webhook_events_wa_ids on {schema}.webhook_events using gin (wa_ids) where wa_ids is not null;
create index webhook_events_done on {schema}.webhook_events (received_at) where status <> 'pending';
`),
};
