import type { SchemaMigration } from "@kanal/db/migration";
import { migration as m0001 } from "./0001_tenant_init";
import { migration as m0002 } from "./0002_channel";
import { migration as m0003 } from "./0003_routing";
import { migration as m0004 } from "./0004_rules_data_protection";
import { migration as m0005 } from "./0005_billing_usage";
import { migration as m0006 } from "./0006_conversation_ksc_org";
import { migration as m0007 } from "./0007_bank_webhooks";
import { migration as m0008 } from "./0008_templates_notifications";

/** Tenant-schema migrations in the order they apply; the runner brings every bank's schema up to the last. */
export const tenantMigrations: SchemaMigration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008];
