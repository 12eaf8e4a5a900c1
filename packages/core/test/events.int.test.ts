import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import type { AgentEventPayload } from "@kanal/contracts/events";
import { type AgentEvent, EventHub, publishToUsers, replaySince } from "../src/realtime/stream";

/** The stream carries whatever payload it is given; these tests use small made-up ones. */
const raw = (type: AgentEventPayload["type"], data: Record<string, unknown>) =>
  ({ type, data }) as unknown as AgentEventPayload;

/** The test run's own namespace, as QUEUE_PREFIX gives every deployment. */
const PREFIX = `kanal-test-${inject("runId")}`;
let redis: Redis;
let hub: EventHub;
beforeAll(async () => {
  redis = new Redis(inject("redisUrl"), { maxRetriesPerRequest: null });
  hub = new EventHub(new Redis(inject("redisUrl"), { maxRetriesPerRequest: null }), PREFIX);
  await hub.start();
});
afterAll(async () => {
  await hub?.stop();
  redis?.disconnect();
});

const person = () => `usr_test${randomBytes(6).toString("hex")}`;

it("an event reaches each recipient's stream and live subscription with the same id, one or several at once", async () => {
  const [a, b] = [person(), person()];
  const live = new Map<string, AgentEvent[]>([
    [a, []],
    [b, []],
  ]);
  for (const [userId, list] of live) hub.subscribe(userId, (e) => list.push(e));
  await publishToUsers(
    redis,
    PREFIX,
    [a, b, a],
    raw("conversation.assigned", { conversationId: "conv_1", note: 'a "quoted" ü' }),
  );
  await publishToUsers(redis, PREFIX, [b], raw("message.created", { n: 2 }));
  await expect.poll(() => (live.get(b) ?? []).length).toBe(2);
  await expect.poll(() => (live.get(a) ?? []).length).toBe(1);
  for (const [userId, list] of live) expect(list).toEqual(await replaySince(redis, PREFIX, userId, "0"));
  expect(live.get(a)?.[0]).toMatchObject({
    type: "conversation.assigned",
    data: { conversationId: "conv_1", note: 'a "quoted" ü' },
  });
  expect(live.get(b)?.map((e) => e.type)).toEqual(["conversation.assigned", "message.created"]);
});
