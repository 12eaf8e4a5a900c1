import type { Role } from "@kanal/contracts/roles";
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T = unknown> = ColumnType<T, string | T, string | T>;

export type { Role };
export type Presence = "online" | "away" | "offline";

// ---- control schema ----
export interface KscOrgsTable {
  id: string;
  slug: string;
  name: string;
  created_at: CreatedAt;
}
export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  schema_name: string;
  timezone: string;
  region: string;
  status: ColumnType<"active" | "suspended", "active" | "suspended" | undefined>;
  billing_status: ColumnType<string, string | undefined>;
  schema_version: string | null;
  created_at: CreatedAt;
}
export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  disabled_at: Timestamp | null;
  created_at: CreatedAt;
}
export interface MembershipsTable {
  id: string;
  user_id: string;
  role: Role;
  tenant_id: string | null;
  ksc_org_id: string | null;
  max_chats: ColumnType<number, number | undefined>;
  deputy_user_id: string | null;
  advisor_code: string | null;
  created_at: CreatedAt;
}
export interface KscContractsTable {
  tenant_id: string;
  ksc_org_id: string;
  created_at: CreatedAt;
}
/** One contract period of a KSC organisation with a bank (ended_at null: the current contract). */
export interface KscContractHistoryTable {
  id: string;
  tenant_id: string;
  ksc_org_id: string;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  started_by: string | null;
  ended_by: string | null;
}
export interface SessionsTable {
  id: string;
  user_id: string;
  expires_at: Timestamp;
  created_at: CreatedAt;
  ip: string | null;
  user_agent: string | null;
}
export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: string[];
  created_by: string | null;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}
export interface WhatsappNumbersTable {
  phone_number_id: string;
  tenant_id: string;
  waba_id: string;
  display_phone_number: string;
  access_token_enc: string;
  throughput_per_second: ColumnType<number, number | undefined>;
  sending_paused_at: Timestamp | null;
  sending_paused_reason: string | null;
  created_at: CreatedAt;
}
export interface AgentStateTable {
  user_id: string;
  presence: ColumnType<Presence, Presence | undefined>;
  presence_changed_at: Timestamp;
  last_seen_at: Timestamp | null;
  open_count: ColumnType<number, number | undefined>;
  last_assigned_at: Timestamp | null;
}
export interface AuditLogTable {
  id: Generated<string>;
  at: CreatedAt;
  actor_user_id: string | null;
  actor_kind: "user" | "api_key" | "system";
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Json<Record<string, unknown>>;
  ip: string | null;
  request_id: string | null;
}
export interface ControlAuditLogTable extends AuditLogTable {
  tenant_id: string | null;
}

export interface WebhookEventsTable {
  id: Generated<string>;
  received_at: CreatedAt;
  body: string;
  status: ColumnType<
    "pending" | "processed" | "dead" | "unknown_number",
    "pending" | "processed" | "dead" | "unknown_number" | undefined
  >;
  error: string | null;
  attempts: ColumnType<number, number | undefined>;
  enqueued_at: Timestamp | null;
  processed_at: Timestamp | null;
  /** the bank the processed event belonged to (null: pending, unknown number, or several banks) */
  tenant_id: ColumnType<string | null, string | null | undefined>;
  /** the customers' WhatsApp ids the processed event names (null: not processed yet) */
  wa_ids: ColumnType<string[] | null, string[] | null | undefined>;
}

// ---- tenant schema (one per bank) ----
export interface RedisEpochsTable {
  prefix: string;
  epoch: string;
  updated_at: Timestamp;
}
export interface OutboxTable {
  id: Generated<string>;
  queue: string;
  name: string;
  data: Json<Record<string, unknown>>;
  opts: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}
export interface CustomersTable {
  id: string;
  external_ref: string | null;
  name: string | null;
  profile_name: string | null;
  wa_id: string | null;
  advisor_user_id: string | null;
  opted_in_at: Timestamp | null;
  opted_out_at: Timestamp | null;
  sensitive_hint_sent_at: Timestamp | null;
  last_inbound_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}
export type ConversationStatus = "queued" | "open" | "closed";
export type HandledBy = "in_house" | "ksc" | "advisor";
export interface ConversationsTable {
  id: string;
  customer_id: string;
  status: ConversationStatus;
  assignee_user_id: string | null;
  handled_by: HandledBy | null;
  queue: "bank" | "ksc" | null;
  queued_at: Timestamp | null;
  topic: string | null;
  rule_id: string | null;
  flags: ColumnType<string[], string[] | undefined>;
  routing: Json<Record<string, unknown>> | null;
  opened_at: Timestamp;
  assigned_at: Timestamp | null;
  first_response_at: Timestamp | null;
  closed_at: Timestamp | null;
  closed_by: string | null;
  last_inbound_at: Timestamp | null;
  last_message_at: Timestamp;
  away_sent_period: string | null;
  /** the KSC organisation that handles or queues it (set whenever the KSC side takes it) */
  ksc_org_id: ColumnType<string | null, string | null | undefined>;
}
export interface MessagesTable {
  id: string;
  conversation_id: string;
  direction: "inbound" | "outbound" | "internal";
  type: string;
  text: string | null;
  payload: Json<Record<string, unknown>> | null;
  media: Json<Record<string, unknown>> | null;
  wamid: string | null;
  context_wamid: string | null;
  status: string;
  error: Json<Record<string, unknown>> | null;
  author_user_id: string | null;
  kind: ColumnType<string, string | undefined>;
  topic: string | null;
  rule_id: string | null;
  rule_version: number | null;
  created_at: Timestamp;
  status_at: Timestamp | null;
  snippet_id: string | null;
  priority: ColumnType<string, string | undefined>;
  sending_started_at: Timestamp | null;
  send_attempts: ColumnType<number, number | undefined>;
}
export interface MediaTable {
  id: string;
  message_id: string;
  media_id: string;
  mime_type: string | null;
  filename: string | null;
  sha256: string | null;
  size_bytes: number | null;
  content: Buffer | null;
  status: ColumnType<"pending" | "stored" | "failed", "pending" | "stored" | "failed" | undefined>;
  error: string | null;
  created_at: CreatedAt;
  stored_at: Timestamp | null;
}
export interface SnippetsTable {
  id: string;
  shortcut: string;
  title: string;
  body: string;
  category: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}
export interface RuleBookVersionsTable {
  version: number;
  rules: Json<unknown[]>;
  created_by: string | null;
  created_at: CreatedAt;
}
export interface SettingsTable {
  key: string;
  value: Json<unknown>;
  updated_at: Timestamp;
}
export interface RoutingDecisionsTable {
  id: Generated<string>;
  conversation_id: string;
  decided_at: CreatedAt;
  mode: string;
  rule: string;
  reason: string;
  target: Json<Record<string, unknown>>;
  candidates: Json<unknown[]>;
}
export interface CallbacksTable {
  id: string;
  conversation_id: string;
  note: string;
  preferred_time: string | null;
  status: ColumnType<string, string | undefined>;
  created_by: string | null;
  created_at: CreatedAt;
}
export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  /** encrypted with SECRETS_KEY (kernel/crypto encryptSecret) */
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  failure_streak: ColumnType<number, number | undefined, number>;
  failing_since: Timestamp | null;
  last_success_at: Timestamp | null;
  last_failure_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: Json<Record<string, unknown>>;
  customer_id: string | null;
  conversation_id: string | null;
  status: ColumnType<"pending" | "delivered" | "failed", "pending" | "delivered" | "failed" | undefined>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  retry_until: Timestamp;
  last_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: CreatedAt;
}
export interface WebhookDeliveryAttemptsTable {
  id: Generated<string>;
  delivery_id: string;
  attempt: number;
  started_at: Timestamp;
  duration_ms: number;
  status_code: number | null;
  outcome: "success" | "failure" | "gone";
  error: string | null;
  response_excerpt: string | null;
}

/** Control tables live in schema "control"; tenant tables in each bank's schema. Query either through
 * `withSchema`, never through a session-level search_path. */
export interface ControlTables {
  ksc_orgs: KscOrgsTable;
  tenants: TenantsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  ksc_contracts: KscContractsTable;
  ksc_contract_history: KscContractHistoryTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  whatsapp_numbers: WhatsappNumbersTable;
  agent_state: AgentStateTable;
  audit_log: ControlAuditLogTable;
  webhook_events: WebhookEventsTable;
  outbox: OutboxTable;
  redis_epochs: RedisEpochsTable;
}
export interface TenantTables {
  customers: CustomersTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  snippets: SnippetsTable;
  rule_book_versions: RuleBookVersionsTable;
  settings: SettingsTable;
  routing_decisions: RoutingDecisionsTable;
  callbacks: CallbacksTable;
  media: MediaTable;
  audit_log: AuditLogTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
}
// audit_log exists in both; the control variant is a superset, so the merged type is the control one.
export type Database = Omit<TenantTables, "audit_log"> & ControlTables;

export type Tenant = Selectable<TenantsTable>;
export type User = Selectable<UsersTable>;
export type Membership = Selectable<MembershipsTable>;
export type Conversation = Selectable<ConversationsTable>;
export type Message = Selectable<MessagesTable>;
export type Customer = Selectable<CustomersTable>;
export type NewMessage = Insertable<MessagesTable>;
export type ConversationUpdate = Updateable<ConversationsTable>;
