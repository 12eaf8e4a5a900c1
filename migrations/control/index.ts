import type { SchemaMigration } from "@kanal/db/migration";
import { migration as m0001 } from "./0001_control_init";
import { migration as m0002 } from "./0002_channel";
import { migration as m0004 } from "./0004_billing";
import { migration as m0005 } from "./0005_outbox";
import { migration as m0006 } from "./0006_ksc_contract_history";
import { migration as m0007 } from "./0007_webhook_event_subjects";
import { migration as m0008 } from "./0008_redis_epochs";

/** Control-schema migrations in the order they apply. */
export const controlMigrations: SchemaMigration[] = [m0001, m0002, m0004, m0005, m0006, m0007, m0008];
