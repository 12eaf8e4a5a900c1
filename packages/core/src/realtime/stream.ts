import type { AgentEventPayload } from "@kanal/contracts/events";
import type { Redis } from "ioredis";
import { sha256Hex } from "../kernel/crypto";

/** An agent event as a stream delivers it: its stream id, type and payload. */
export type AgentEvent = AgentEventPayload & { id: string };

const STREAM_LEN = 500;
/**
 * A stream only serves the replay after a reconnect, and its payloads name conversations and customers:
 * every publish sets it to expire this long after the person's last event, so old payloads age out.
 */
export const STREAM_TTL_SECONDS = 24 * 60 * 60;
/**
 * Keys and channel live under the deployment's `QUEUE_PREFIX` (like the queues): two deployments, or two
 * test runs, on one Redis never see each other's events.
 */
const channelOf = (prefix: string) => `${prefix}:events`;
export const streamKey = (prefix: string, userId: string) => `${prefix}:events:${userId}`;
/** Notices that end open event streams (a session ended, a person revoked, a stream over the limit). */
const controlChannelOf = (prefix: string) => `${prefix}:event-control`;
/** The open event streams of one person, across API processes: stream id → opened at (ms). */
const openStreamsKey = (prefix: string, userId: string) => `${prefix}:event-streams:${userId}`;

/** Why a stream was ended by the server; sent to the client as the last frame (`event: end`). */
export type StreamEndReason = "session_ended" | "revoked" | "replaced" | "expired";

type ControlNotice =
  | { kind: "session"; session: string }
  | { kind: "user"; userId: string }
  | { kind: "stream"; streamId: string };

/** Session ids never travel: notices name a session by the hash the sessions table keys it by. */
const sessionRef = (sessionId: string) => sha256Hex(sessionId);

/** Every API process closes the event streams of this session (logout, expiry). */
export async function publishSessionEnded(redis: Redis, prefix: string, sessionId: string): Promise<void> {
  const notice: ControlNotice = { kind: "session", session: sessionRef(sessionId) };
  await redis.publish(controlChannelOf(prefix), JSON.stringify(notice));
}

/** Every API process closes every event stream of this person (disabled, password changed). */
export async function publishUserRevoked(redis: Redis, prefix: string, userId: string): Promise<void> {
  const notice: ControlNotice = { kind: "user", userId };
  await redis.publish(controlChannelOf(prefix), JSON.stringify(notice));
}

/**
 * Records an opened stream in the person's set and, when they hold more than `limit`, removes the oldest
 * and announces them, so the process holding each closes it. One script: two streams opened at once
 * cannot both stay under the limit. Entries of a process that died are the oldest and go first; the set
 * expires with the last stream's session at the latest.
 */
const REGISTER_STREAM = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over <= 0 then return {} end
local evicted = redis.call('ZPOPMIN', KEYS[1], over)
local ids = {}
for i = 1, #evicted, 2 do
  ids[#ids + 1] = evicted[i]
  redis.call('PUBLISH', ARGV[5], '{"kind":"stream","streamId":' .. cjson.encode(evicted[i]) .. '}')
end
return ids`;

interface StreamCommands {
  kanalRegisterStream(
    key: string,
    streamId: string,
    openedAt: string,
    limit: string,
    ttlSeconds: string,
    channel: string,
  ): Promise<string[]>;
}

/** Registers an opened event stream; returns the ids of the streams it displaced (the oldest). */
export async function registerStream(
  redis: Redis,
  prefix: string,
  userId: string,
  streamId: string,
  options: { limit: number; ttlSeconds: number },
): Promise<string[]> {
  const r = redis as Redis & Partial<StreamCommands>;
  if (!r.kanalRegisterStream)
    r.defineCommand("kanalRegisterStream", { numberOfKeys: 1, lua: REGISTER_STREAM });
  return (r as Redis & StreamCommands).kanalRegisterStream(
    openStreamsKey(prefix, userId),
    streamId,
    String(Date.now()),
    String(options.limit),
    String(Math.max(1, Math.ceil(options.ttlSeconds))),
    controlChannelOf(prefix),
  );
}

export async function unregisterStream(
  redis: Redis,
  prefix: string,
  userId: string,
  streamId: string,
): Promise<void> {
  await redis.zrem(openStreamsKey(prefix, userId), streamId);
}

/**
 * Events for a person go to a short per-person Redis stream (so a reconnecting browser can replay from
 * Last-Event-ID) and are announced on one pub/sub channel that every API process fans out in memory —
 * one Redis connection per process, however many browsers are connected.
 */
export async function publishToUsers(
  redis: Redis,
  prefix: string,
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
      streamKey(prefix, userId),
      String(STREAM_LEN),
      payload,
      channelOf(prefix),
      JSON.stringify(userId),
      String(STREAM_TTL_SECONDS),
    );
  await pipeline.exec();
}

/**
 * Appends the event to the person's stream, renews the stream's expiry, and announces the event with its
 * stream id, in one script: the announcement is the JSON `{"userId","id","type","data"}` that EventHub
 * parses, built around the payload.
 */
const PUBLISH_EVENT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[3], '{"userId":' .. ARGV[4] .. ',"id":"' .. id .. '",' .. string.sub(ARGV[2], 2))
return id`;

/**
 * Deletes the entries of one person's stream whose payload names one of the given conversations
 * (`"conversationId":"<id>"`, as every agent event carries it); returns how many. Server-side, so a
 * stream's entries never travel to the caller. ARGV: the conversation ids.
 */
const FORGET_CONVERSATIONS = `
local deleted = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = entry[2]
  local payload = ''
  for i = 1, #fields, 2 do if fields[i] == 'e' then payload = fields[i + 1] end end
  for _, id in ipairs(ARGV) do
    if string.find(payload, '"conversationId":"' .. id .. '"', 1, true) then
      deleted = deleted + redis.call('XDEL', KEYS[1], entry[1])
      break
    end
  end
end
return deleted`;

interface PublishCommand {
  kanalPublishEvent(
    key: string,
    maxLen: string,
    payload: string,
    channel: string,
    userIdJson: string,
    ttlSeconds: string,
  ): Promise<string>;
  kanalForgetConversations(key: string, ...conversationIds: string[]): Promise<number>;
}

function withPublishCommand(redis: Redis): Redis & PublishCommand {
  const r = redis as Redis & Partial<PublishCommand>;
  if (!r.kanalPublishEvent) r.defineCommand("kanalPublishEvent", { numberOfKeys: 1, lua: PUBLISH_EVENT });
  if (!r.kanalForgetConversations)
    r.defineCommand("kanalForgetConversations", { numberOfKeys: 1, lua: FORGET_CONVERSATIONS });
  return r as Redis & PublishCommand;
}

/**
 * Erasure: removes every entry naming one of `conversationIds` from the streams of `userIds` (one script
 * call per stream, all in one round trip). Returns the number of entries deleted.
 */
export async function forgetConversations(
  redis: Redis,
  prefix: string,
  userIds: readonly string[],
  conversationIds: readonly string[],
): Promise<number> {
  const users = [...new Set(userIds)];
  if (users.length === 0 || conversationIds.length === 0) return 0;
  const pipeline = withPublishCommand(redis).pipeline() as ReturnType<Redis["pipeline"]> & PublishCommand;
  for (const userId of users)
    pipeline.kanalForgetConversations(streamKey(prefix, userId), ...conversationIds);
  let deleted = 0;
  for (const [error, count] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    deleted += Number(count);
  }
  return deleted;
}

/**
 * Gives every event stream without an expiry one (`EXPIRE … NX`): streams written before they expired by
 * themselves, or of people who never received an event since, would otherwise keep their payloads for
 * ever. Run by the retention sweep; returns how many streams got an expiry.
 */
export async function expireStreamsWithoutTtl(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let expired = 0;
  do {
    const [next, keys] = await redis.scan(
      cursor,
      "MATCH",
      streamKey(prefix, "*"),
      "COUNT",
      1000,
      "TYPE",
      "stream",
    );
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.expire(key, STREAM_TTL_SECONDS, "NX");
    for (const [error, set] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      expired += Number(set);
    }
  } while (cursor !== "0");
  return expired;
}

export async function replaySince(
  redis: Redis,
  prefix: string,
  userId: string,
  lastEventId: string,
): Promise<AgentEvent[]> {
  const entries = await redis.xrange(streamKey(prefix, userId), `(${lastEventId}`, "+", "COUNT", STREAM_LEN);
  return entries.flatMap(([id, fields]) => {
    const raw = fields[1];
    if (!raw) return [];
    const parsed = JSON.parse(raw) as AgentEventPayload;
    return [{ id, ...parsed } as AgentEvent];
  });
}

type Listener = (event: AgentEvent) => void;

interface Subscription {
  userId: string;
  listener: Listener;
  session: string | null;
  streamId: string | null;
  onEnd: (reason: StreamEndReason) => void;
}

/**
 * In-process fan-out of the shared channel to the event streams open in this process, and the end of
 * those streams when a control notice names their session, their person or the stream itself — from
 * whichever API process published it.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Subscription>>();
  private readonly bySession = new Map<string, Set<Subscription>>();
  private readonly byStream = new Map<string, Subscription>();
  private started = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly prefix: string,
  ) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const events = channelOf(this.prefix);
    const control = controlChannelOf(this.prefix);
    this.subscriber.on("message", (channel: string, message: string) => {
      if (channel === events) this.deliver(message);
      else if (channel === control) this.control(message);
    });
    this.subscriber.on("error", () => undefined); // reconnects by itself; readiness reports Redis
    // ioredis re-subscribes after a reconnect; a Redis that is down at start must not block the API.
    const subscribed = this.subscriber.subscribe(events, control).catch(() => undefined);
    await Promise.race([subscribed, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  private deliver(message: string): void {
    const parsed = JSON.parse(message) as AgentEventPayload & { userId: string; id: string };
    for (const subscription of this.listeners.get(parsed.userId) ?? []) {
      subscription.listener({ id: parsed.id, type: parsed.type, data: parsed.data } as AgentEvent);
    }
  }

  private control(message: string): void {
    const notice = JSON.parse(message) as ControlNotice;
    if (notice.kind === "session") this.end(this.bySession.get(notice.session), "session_ended");
    else if (notice.kind === "user") this.end(this.listeners.get(notice.userId), "revoked");
    else if (notice.kind === "stream") {
      const subscription = this.byStream.get(notice.streamId);
      if (subscription) this.end([subscription], "replaced");
    }
  }

  private end(subscriptions: Iterable<Subscription> | undefined, reason: StreamEndReason): void {
    for (const subscription of [...(subscriptions ?? [])]) {
      this.remove(subscription);
      subscription.onEnd(reason);
    }
  }

  /**
   * Delivers the person's events to `listener` until the returned function is called, or until a
   * notice ends the stream (`onEnd`, after which nothing more is delivered). `session` is the raw
   * session id of the stream's cookie; `streamId` the id it was registered with (`registerStream`).
   */
  subscribe(
    userId: string,
    listener: Listener,
    options: { session?: string; streamId?: string; onEnd?: (reason: StreamEndReason) => void } = {},
  ): () => void {
    const subscription: Subscription = {
      userId,
      listener,
      session: options.session ? sessionRef(options.session) : null,
      streamId: options.streamId ?? null,
      onEnd: options.onEnd ?? (() => undefined),
    };
    addTo(this.listeners, userId, subscription);
    if (subscription.session) addTo(this.bySession, subscription.session, subscription);
    if (subscription.streamId) this.byStream.set(subscription.streamId, subscription);
    return () => this.remove(subscription);
  }

  private remove(subscription: Subscription): void {
    removeFrom(this.listeners, subscription.userId, subscription);
    if (subscription.session) removeFrom(this.bySession, subscription.session, subscription);
    if (subscription.streamId && this.byStream.get(subscription.streamId) === subscription)
      this.byStream.delete(subscription.streamId);
  }

  connectionCount(userId?: string): number {
    if (userId) return this.listeners.get(userId)?.size ?? 0;
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    this.bySession.clear();
    this.byStream.clear();
    this.subscriber.disconnect();
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
