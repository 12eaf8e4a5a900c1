import type { Redis } from "ioredis";
import { sql, type Db } from "@kanal/db";
import { sha256Hex } from "../kernel/crypto";
import { publishSessionEnded, publishUserRevoked } from "../realtime/stream";
import type { KanalLucia } from "./lucia";

interface SessionDeps {
  lucia: KanalLucia;
  redis: Redis;
  config: { QUEUE_PREFIX: string };
}

/**
 * Logout: the session row goes, then every API process closes the event streams opened with it. The
 * notice is best effort (Redis may be away); a stream it misses finds the session gone at its next
 * heartbeat.
 */
export async function endSession(deps: SessionDeps, sessionId: string): Promise<void> {
  await deps.lucia.invalidateSession(sessionId);
  await publishSessionEnded(deps.redis, deps.config.QUEUE_PREFIX, sessionId).catch(() => undefined);
}

/**
 * After a person's sessions were deleted (disabled, password changed) and that committed: every API
 * process closes their event streams. Best effort like `endSession`, with the same heartbeat backstop.
 */
export async function closeUserStreams(
  deps: { redis: Redis; config: { QUEUE_PREFIX: string } },
  userId: string,
): Promise<void> {
  await publishUserRevoked(deps.redis, deps.config.QUEUE_PREFIX, userId).catch(() => undefined);
}

/**
 * An event stream's heartbeat: true while its session exists, has not expired and its person is not
 * disabled, and only then `last_seen_at` is kept fresh (presence). One statement. Read-only for the
 * session: an open stream does not extend a sliding session, only the person's requests do.
 */
export async function streamHeartbeat(db: Db, sessionId: string, userId: string): Promise<boolean> {
  const result = await sql<{ alive: boolean }>`
    with alive as (
      select 1 from control.sessions s
      join control.users u on u.id = s.user_id
      where s.id = ${sha256Hex(sessionId)} and s.user_id = ${userId}
        and s.expires_at > now() and u.disabled_at is null
    ), touched as (
      update control.agent_state set last_seen_at = now()
      where user_id = ${userId} and exists (select 1 from alive)
    )
    select exists (select 1 from alive) as alive`.execute(db);
  return result.rows[0]?.alive === true;
}

/** Deletes expired sessions; returns how many. Safe to run from any process, any number of times. */
export async function deleteExpiredSessions(db: Db): Promise<number> {
  const result = await db
    .withSchema("control")
    .deleteFrom("sessions")
    .where("expires_at", "<=", new Date())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

const SWEEP_INTERVAL_MS = 10 * 60 * 1000;
let lastSweep = 0;

/**
 * The API's opportunistic sweep: at most once per interval per process, on a successful login, in the
 * background (a failure is retried at a later login). Expired sessions are already refused by lucia;
 * this only keeps the table (user, IP, user agent of past sign-ins) from growing for ever.
 */
export function sweepExpiredSessions(db: Db, now = Date.now()): void {
  if (now - lastSweep < SWEEP_INTERVAL_MS) return;
  lastSweep = now;
  deleteExpiredSessions(db).catch(() => {
    lastSweep = 0;
  });
}
