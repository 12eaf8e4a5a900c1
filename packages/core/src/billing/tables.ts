import type { ColumnType } from "kysely";
import type { Db } from "@kanal/db";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string | T, string | T>;

export type UsageKind = "in_house_conversation" | "ksc_conversation" | "template_message";
export const USAGE_KINDS: readonly UsageKind[] = [
  "in_house_conversation",
  "ksc_conversation",
  "template_message",
];

/** Amounts in the plan's currency's minor unit, as Stripe had them when the plan was saved. */
export interface PlanAmounts {
  base?: number | null;
  in_house_conversation?: number | null;
  ksc_conversation?: number | null;
  template_message?: number | null;
}

interface BillingPlansTable {
  id: string;
  code: string;
  name: string;
  currency: ColumnType<string, string | undefined>;
  stripe_base_price_id: string;
  stripe_in_house_price_id: string;
  stripe_ksc_price_id: string;
  stripe_template_price_id: string;
  amounts: Json<PlanAmounts>;
  is_default: ColumnType<boolean, boolean | undefined>;
  active: ColumnType<boolean, boolean | undefined>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}
interface BillingAccountsTable {
  tenant_id: string;
  plan_id: string | null;
  stripe_customer_id: string | null;
  stripe_subscription_id: string | null;
  subscription_status: string | null;
  current_period_start: Timestamp | null;
  current_period_end: Timestamp | null;
  status_event_at: Timestamp | null;
  setup_attempts: ColumnType<number, number | undefined>;
  last_error: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}
interface BillingInvoicesTable {
  id: string;
  tenant_id: string;
  number: string | null;
  status: string;
  currency: string;
  amount_due: ColumnType<string, number | string, number | string>;
  amount_paid: ColumnType<string, number | string, number | string>;
  period_start: Timestamp | null;
  period_end: Timestamp | null;
  hosted_invoice_url: string | null;
  stripe_created_at: Timestamp;
  event_at: Timestamp;
  updated_at: Timestamp;
}
interface StripeEventsTable {
  id: string;
  type: string;
  tenant_id: string | null;
  received_at: CreatedAt;
}
interface BillingUsageTable {
  id: string;
  kind: UsageKind;
  source: "conversation" | "message";
  source_id: string;
  /** a template message's category (MARKETING, UTILITY, AUTHENTICATION): Meta prices templates by it */
  category: ColumnType<string | null, string | null | undefined, string | null>;
  occurred_at: Timestamp;
  created_at: CreatedAt;
  reported_at: Timestamp | null;
  report_error: string | null;
}

/** Billing's tables; control ones live in "control", billing_usage in each bank's schema. */
// A type alias, not an interface: Kysely\'s withTables needs an index-signature-compatible type.
export type BillingTables = {
  billing_plans: BillingPlansTable;
  billing_accounts: BillingAccountsTable;
  billing_invoices: BillingInvoicesTable;
  stripe_events: StripeEventsTable;
  billing_usage: BillingUsageTable;
};

/** The shared database handle, typed to also know billing's tables (same pool, no new connection). */
export function billingDb(db: Db) {
  return db.withTables<BillingTables>();
}
