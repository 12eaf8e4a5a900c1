import type { SchemaMigration } from "@kanal/db/migration";
import { migration as m0001 } from "./0001_control_init";

/** Control-schema migrations in the order they apply. */
export const controlMigrations: SchemaMigration[] = [m0001];
