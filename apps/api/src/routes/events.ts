import type { ServerResponse } from "node:http";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { streamSSE } from "hono/streaming";
import { replaySince } from "@kanal/core/realtime";
import { sql } from "@kanal/db";
import type { AppEnv } from "../env";
import { requireUser } from "../middleware/auth";

const HEARTBEAT_MS = 20_000;

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
 */
export function registerEvents(app: OpenAPIHono<AppEnv>) {
  app.get("/v1/events", (c) => {
    const actor = requireUser(c);
    const { db, redis } = c.get("services");
    const hub = c.get("hub");
    const lastEventId = c.req.header("last-event-id") ?? c.req.query("lastEventId");

    const run = async (sink: EventSink) => {
      let lastSent = lastEventId ?? "";
      const queue: { id: string; type: string; data: Record<string, unknown> }[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = hub.subscribe(actor.userId, (event) => {
        queue.push(event);
        wake?.();
      });
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
        while (!sink.aborted) {
          const event = queue.shift();
          if (event) {
            // Replay and live may overlap right after connecting; stream ids are ordered, so skip repeats.
            if (lastSent && compareStreamIds(event.id, lastSent) <= 0) continue;
            await sink.write(sseFrame({ id: event.id, event: event.type, data: JSON.stringify(event.data) }));
            lastSent = event.id;
            continue;
          }
          const waitMs = Math.max(0, HEARTBEAT_MS - (Date.now() - lastBeat));
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, waitMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
          if (Date.now() - lastBeat >= HEARTBEAT_MS && !sink.aborted) {
            await sink.write(": heartbeat\n\n");
            await touch().catch(() => undefined);
            lastBeat = Date.now();
          }
        }
      } finally {
        unsubscribe();
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
