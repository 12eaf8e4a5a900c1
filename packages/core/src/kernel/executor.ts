import type { Database, Db, Transaction } from "@kanal/db";

/** Anything that can run a query: the pool or a transaction. */
export type Executor = Db | Transaction<Database>;
export type Trx = Transaction<Database>;
