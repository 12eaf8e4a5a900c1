import { afterAll, beforeAll, expect, it } from "vitest";
import { eventually } from "../../../test/support/full-system";
import { providerClient, startTestSystem, type TestSystem } from "../../../test/support/system";
import { processors } from "../src/processors/index";
import { type RunningWorkers, startWorkers } from "../src/worker";

let system: TestSystem;
let workers: RunningWorkers;

beforeAll(async () => {
  system = await startTestSystem();
  workers = await startWorkers(system.services, processors, { schedule: false });
});
afterAll(async () => {
  await workers.close();
  await system.close();
});

it("the sessions sweep deletes expired sessions and keeps live ones", async () => {
  await providerClient(system); // signs a person in: one live session
  const users = await system.services.db
    .withSchema("control")
    .selectFrom("users")
    .select("id")
    .limit(1)
    .execute();
  const userId = users[0]?.id ?? "";
  await system.services.db
    .withSchema("control")
    .insertInto("sessions")
    .values({ id: `expired-${Date.now()}`, user_id: userId, expires_at: new Date(Date.now() - 60_000) })
    .execute();
  const job = await system.services.queues.maintenance.add("sessions-sweep", {});
  await eventually(async () => (await job.isCompleted()) || undefined);
  const left = await system.services.db
    .withSchema("control")
    .selectFrom("sessions")
    .select(["expires_at"])
    .execute();
  expect(left.length).toBeGreaterThan(0);
  expect(left.every((s) => s.expires_at.getTime() > Date.now())).toBe(true);
});
