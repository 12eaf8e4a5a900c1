import type { ServerResponse } from "node:http";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { streamSSE } from "hono/streaming";
import { streamHeartbeat } from "@kanal/core/auth";
import { registerStream, replaySince, type StreamEndReason, unregisterStream } from "@kanal/core/realtime";
import { sql } from "@kanal/db";
import type { AppEnv } from "../env";
import { requireUser } from "../middleware/auth";

/** Where one event stream writes: the Node response itself, or Hono's stream (in-process requests). */
interface EventSink {
  write(text: string): Promise<void>;
  readonly aborted: boolean;
  onAbort(listener: () => void): void;
}

/**
 * Writes straight to the Node response: an idle stream then costs a socket, one closure and one timer,
 * not a chain of web streams (2,000 idle streams must stay under 250 MB, docs/BENCHMARKS.md).
 */
function nodeSink(res: ServerResponse, requestId: string | undefined): EventSink {
  let aborted = false;
  const listeners: (() => void)[] = [];
  res.on("close", () => {
    aborted = true;
    for (const l of listeners.splice(0)) l();
  });
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
    "x-content-type-options": "nosniff",
    ...(requestId && { "x-request-id": requestId }),
  });
  res.flushHeaders();
  return {
    get aborted() {
      return aborted;
    },
    onAbort: (listener) => listeners.push(listener),
    write: (text) =>
      new Promise<void>((resolve) => {
        if (aborted) return resolve();
        // Respect back-pressure: a slow client makes this stream wait, never the process buffer.
        if (res.write(text)) resolve();
        else res.once("drain", resolve).once("close", resolve);
      }),
  };
}

const sseFrame = (event: { id?: string; event: string; data: string }) =>
  `${event.id ? `id: ${event.id}\n` : ""}event: ${event.event}\ndata: ${event.data}\n\n`;

/**
 * Server-Sent Events for the signed-in person. Replays what was missed since Last-Event-ID, then streams
 * live. While a stream is open its heartbeat keeps `last_seen_at` fresh; presence ends after a grace period
 * once the last stream is gone (the worker's presence sweeper).
 *
 * A stream lives no longer than its session: logout, a password change or disabling the person publish a
 * notice every API process's EventHub acts on, and each heartbeat checks the session in Postgres (expiry,
 * and any notice Redis lost). A person holds at most EVENT_STREAMS_PER_USER streams; a new one ends the
 * oldest. An ended stream gets a last `event: end` frame with the reason, then the connection closes.
 */
export function registerEvents(app: OpenAPIHono<AppEnv>) {
  app.get("/v1/events", (c) => {
    const actor = requireUser(c);
    const { db, redis, config } = c.get("services");
    const hub = c.get("hub");
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId");
    const heartbeatMs = config.EVENT_HEARTBEAT_SECONDS * 1000;

    const run = async (sink: EventSink) => {
      let lastSent = lastEventId ?? "";
      const queue: { id: string; type: string; data: Record<string, unknown> }[] = [];
      let wake: (() => void) | null = null;
      let ended: StreamEndReason | null = null;
      const streamId = crypto.randomUUID();
      const unsubscribe = hub.subscribe(
        actor.userId,
        (event) => {
          queue.push(event);
          wake?.();
        },
        {
          session: actor.sessionId ?? undefined,
          streamId,
          onEnd: (reason) => {
            ended = reason;
            wake?.();
          },
        },
      );
      const alive = async () =>
        actor.sessionId ? streamHeartbeat(db, actor.sessionId, actor.userId) : false;
      const touch = () =>
        db
          .withSchema("control")
          .updateTable("agent_state")
          .set({ last_seen_at: sql`now()` })
          .where("user_id", "=", actor.userId)
          .execute();
      sink.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      try {
        await touch();
        await registerStream(redis, config.QUEUE_PREFIX, actor.userId, streamId, {
          limit: config.EVENT_STREAMS_PER_USER,
          ttlSeconds: config.SESSION_TTL_HOURS * 3600,
        }).catch(() => undefined); // without Redis no events flow either; the limit waits for it
        await sink.write(sseFrame({ event: "ready", data: JSON.stringify({ userId: actor.userId }) }));
        if (lastEventId) {
          for (const event of await replaySince(
            redis,
            c.get("services").config.QUEUE_PREFIX,
            actor.userId,
            lastEventId,
          )) {
            await sink.write(sseFrame({ id: event.id, event: event.type, data: JSON.stringify(event.data) }));
            lastSent = event.id;
          }
        }
        let lastBeat = Date.now();
        while (!sink.aborted && !ended) {
          const event = queue.shift();
          if (event) {
            // Replay and live may overlap right after connecting; stream ids are ordered, so skip repeats.
            if (lastSent && compareStreamIds(event.id, lastSent) <= 0) continue;
            await sink.write(sseFrame({ id: event.id, event: event.type, data: JSON.stringify(event.data) }));
            lastSent = event.id;
            continue;
          }
          const waitMs = Math.max(0, heartbeatMs - (Date.now() - lastBeat));
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, waitMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
          if (Date.now() - lastBeat >= heartbeatMs && !sink.aborted && !ended) {
            // A database that does not answer keeps the stream (as before); a session that is gone ends it.
            if ((await alive().catch(() => true)) === false) ended = "expired";
            else await sink.write(": heartbeat\n\n");
            lastBeat = Date.now();
          }
        }
        if (ended && !sink.aborted)
          await sink.write(sseFrame({ event: "end", data: JSON.stringify({ reason: ended }) }));
      } finally {
        unsubscribe();
        await unregisterStream(redis, config.QUEUE_PREFIX, actor.userId, streamId).catch(() => undefined);
      }
    };

    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) {
      const logger = c.get("services").logger;
      run(nodeSink(outgoing, c.get("requestId")))
        .catch((error: Error) => logger.warn({ err: error.message }, "event stream failed"))
        .finally(() => outgoing.end());
      return RESPONSE_ALREADY_SENT;
    }
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, (stream) =>
      run({
        write: (text) => stream.write(text).then(() => undefined),
        get aborted() {
          return stream.aborted;
        },
        onAbort: (listener) => stream.onAbort(listener),
      }),
    );
  });
}

/**
 * Outermost on /v1/events: a stream written straight to the socket is answered with "already sent".
 * The middleware on the way out re-wraps that answer in node-server's lightweight Response, which
 * node-server would write (and end) once more; materialising it (any of body, statusText … does)
 * makes node-server take the path that honours the "already sent" mark. The events test over HTTP
 * fails without this.
 */
export async function keepStreamsAlreadySent(c: { res: Response }, next: () => Promise<void>) {
  await next();
  if (c.res.headers.get("x-hono-already-sent")) void c.res.statusText;
}

function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am === bm ? as - bs : am - bm;
}
