import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type TestSystem } from "../../../test/support/system";
import { processors } from "../src/processors/index";
import { type RunningWorkers, startWorkers } from "../src/worker";

let system: TestSystem;
let workers: RunningWorkers;
let events: QueueEvents;
let eventsConnection: Redis;

beforeAll(async () => {
  system = await startTestSystem();
  workers = await startWorkers(system.services, processors, { schedule: false });
  eventsConnection = new Redis(system.services.config.REDIS_URL, { maxRetriesPerRequest: null });
  events = new QueueEvents("routing", {
    connection: eventsConnection,
    prefix: system.services.config.QUEUE_PREFIX,
  });
  await events.waitUntilReady();
});
afterAll(async () => {
  await events.close();
  eventsConnection.disconnect();
  await workers.close();
  await system.close();
});

/** Adds a raw job, bypassing the typed producers, as a foreign or older producer could. */
async function failedReasonOf(name: string, data: unknown): Promise<{ reason: string; attempts: number }> {
  const job = await system.services.queues.routing.add(name, data, { attempts: 5 });
  const reason = await new Promise<string>((resolve) => {
    events.on("failed", ({ jobId, failedReason }) => {
      if (jobId === job.id) resolve(failedReason);
    });
  });
  const stored = await system.services.queues.routing.getJob(job.id ?? "");
  return { reason, attempts: stored?.attemptsMade ?? -1 };
}

describe("the worker validates every job against its schema in @kanal/queue", () => {
  it("refuses a malformed payload at once, without retrying it and without running the processor", async () => {
    const failed = await failedReasonOf("route-conversation", {
      tenantId: "t1",
      conversationId: "not-a-conversation",
    });
    expect(failed.reason).toMatch(/invalid payload/);
    expect(failed.attempts).toBe(1);
  });

  it("refuses a job name the queue does not know", async () => {
    const failed = await failedReasonOf("drop-all-tables", {});
    expect(failed.reason).toMatch(/No handler for routing\/drop-all-tables/);
    expect(failed.attempts).toBe(1);
  });
});
