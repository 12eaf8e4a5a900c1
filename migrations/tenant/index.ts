import type { SchemaMigration } from "@kanal/db/migration";
import { migration as m0001 } from "./0001_tenant_init";
import { migration as m0005 } from "./0005_billing_usage";

/** Tenant-schema migrations in the order they apply; the runner brings every bank's schema up to the last. */
export const tenantMigrations: SchemaMigration[] = [m0001, m0005];
