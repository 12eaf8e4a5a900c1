import type { AgentEventPayload } from "@kanal/contracts/events";
import type { Redis } from "ioredis";

/** An agent event as a stream delivers it: its stream id, type and payload. */
export type AgentEvent = AgentEventPayload & { id: string };

const STREAM_LEN = 500;
const CHANNEL = "kanal:events";
const streamKey = (userId: string) => `kanal:events:${userId}`;

/**
 * Events for a person go to a short per-person Redis stream (so a reconnecting browser can replay from
 * Last-Event-ID) and are announced on one pub/sub channel that every API process fans out in memory —
 * one Redis connection per process, however many browsers are connected.
 */
export async function publishToUsers(
  redis: Redis,
  userIds: readonly string[],
  event: AgentEventPayload,
): Promise<void> {
  const unique = [...new Set(userIds)];
  if (unique.length === 0) return;
  const payload = JSON.stringify({ type: event.type, data: event.data });
  const publisher = withPublishCommand(redis);
  // One round trip for every recipient; one key per script call, so it also runs on a cluster.
  const pipeline = publisher.pipeline() as ReturnType<Redis["pipeline"]> & PublishCommand;
  for (const userId of unique)
    pipeline.kanalPublishEvent(
      streamKey(userId),
      String(STREAM_LEN),
      payload,
      CHANNEL,
      JSON.stringify(userId),
    );
  await pipeline.exec();
}

/**
 * Appends the event to the person's stream and announces it with its stream id, in one script: the
 * announcement is the JSON `{"userId","id","type","data"}` that EventHub parses, built around the payload.
 */
const PUBLISH_EVENT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"userId":' .. ARGV[4] .. ',"id":"' .. id .. '",' .. string.sub(ARGV[2], 2))
return id`;

interface PublishCommand {
  kanalPublishEvent(
    key: string,
    maxLen: string,
    payload: string,
    channel: string,
    userIdJson: string,
  ): Promise<string>;
}

function withPublishCommand(redis: Redis): Redis & PublishCommand {
  const r = redis as Redis & Partial<PublishCommand>;
  if (!r.kanalPublishEvent) r.defineCommand("kanalPublishEvent", { numberOfKeys: 1, lua: PUBLISH_EVENT });
  return r as Redis & PublishCommand;
}

export async function replaySince(redis: Redis, userId: string, lastEventId: string): Promise<AgentEvent[]> {
  const entries = await redis.xrange(streamKey(userId), `(${lastEventId}`, "+", "COUNT", STREAM_LEN);
  return entries.flatMap(([id, fields]) => {
    const raw = fields[1];
    if (!raw) return [];
    const parsed = JSON.parse(raw) as AgentEventPayload;
    return [{ id, ...parsed } as AgentEvent];
  });
}

type Listener = (event: AgentEvent) => void;

/** In-process fan-out of the shared channel to the event streams open in this process. */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private started = false;

  constructor(private readonly subscriber: Redis) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.subscriber.on("message", (_channel: string, message: string) => {
      const parsed = JSON.parse(message) as AgentEventPayload & { userId: string; id: string };
      for (const listener of this.listeners.get(parsed.userId) ?? []) {
        listener({ id: parsed.id, type: parsed.type, data: parsed.data } as AgentEvent);
      }
    });
    this.subscriber.on("error", () => undefined); // reconnects by itself; readiness reports Redis
    // ioredis re-subscribes after a reconnect; a Redis that is down at start must not block the API.
    const subscribed = this.subscriber.subscribe(CHANNEL).catch(() => undefined);
    await Promise.race([subscribed, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  subscribe(userId: string, listener: Listener): () => void {
    let set = this.listeners.get(userId);
    if (!set) {
      set = new Set();
      this.listeners.set(userId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(userId);
    };
  }

  connectionCount(userId?: string): number {
    if (userId) return this.listeners.get(userId)?.size ?? 0;
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    this.subscriber.disconnect();
  }
}
