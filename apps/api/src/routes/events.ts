import type { OpenAPIHono } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { replaySince } from "@kanal/core";
import { sql } from "@kanal/db";
import type { AppEnv } from "../env";
import { requireUser } from "../middleware/auth";

const HEARTBEAT_MS = 20_000;

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
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, async (stream) => {
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
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      try {
        await touch();
        await stream.writeSSE({ event: "ready", data: JSON.stringify({ userId: actor.userId }) });
        if (lastEventId) {
          for (const event of await replaySince(redis, actor.userId, lastEventId)) {
            await stream.writeSSE({ id: event.id, event: event.type, data: JSON.stringify(event.data) });
            lastSent = event.id;
          }
        }
        let lastBeat = Date.now();
        while (!stream.aborted) {
          const event = queue.shift();
          if (event) {
            // Replay and live may overlap right after connecting; stream ids are ordered, so skip repeats.
            if (lastSent && compareStreamIds(event.id, lastSent) <= 0) continue;
            await stream.writeSSE({ id: event.id, event: event.type, data: JSON.stringify(event.data) });
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
          if (Date.now() - lastBeat >= HEARTBEAT_MS && !stream.aborted) {
            await stream.write(": heartbeat\n\n");
            await touch().catch(() => undefined);
            lastBeat = Date.now();
          }
        }
      } finally {
        unsubscribe();
      }
    });
  });
}

function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am === bm ? as - bs : am - bm;
}
