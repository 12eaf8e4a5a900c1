import type { TestProject } from "vitest/node";
import { controlMigrations } from "@kanal/migrations";
import { createDb, dropDatabase, ensureDatabase, migrateControl } from "@kanal/db";
import { checkServices } from "../scripts/services-check";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    runId: string;
  }
}

/** Each test run gets its own database and queue prefix, so runs can overlap and run twice in a row. */
export default async function setup(project: TestProject) {
  const base = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://localhost:5432/kanal";
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const problems = await checkServices(base, redisUrl);
  if (problems.length > 0)
    throw new Error(`Integration tests need Postgres and Redis:\n${problems.join("\n")}`);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const url = new URL(base);
  url.pathname = `/kanal_test_${runId}_${project.name}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { max: 2 });
  await migrateControl(db, controlMigrations);
  await db.destroy();
  project.provide("databaseUrl", databaseUrl);
  project.provide("redisUrl", redisUrl);
  project.provide("runId", runId);
  return async () => {
    if (!process.env.KEEP_TEST_DB) await dropDatabase(databaseUrl).catch(() => undefined);
  };
}
