export * from "./connection";
export * from "./migrator";
export * from "./migration";
export type * from "./types";
export { sql } from "kysely";
export type { Kysely, Transaction, Selectable, Insertable, Updateable } from "kysely";
