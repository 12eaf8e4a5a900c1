import type { Adapter, DatabaseSession, DatabaseUser } from "lucia";
import type { Db } from "@kanal/db";
import { sha256Hex } from "../kernel/crypto";

/**
 * Lucia adapter that stores only SHA-256(session id). Lucia hands us the raw id from the cookie; we hash
 * it on the way in for every lookup, so a copied `sessions` row is useless as a cookie.
 */
export class HashedSessionAdapter implements Adapter {
  constructor(private readonly db: Db) {}

  private sessions() {
    return this.db.withSchema("control");
  }

  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const row = await this.sessions()
      .selectFrom("sessions")
      .innerJoin("users", "users.id", "sessions.user_id")
      .select(["sessions.user_id", "sessions.expires_at", "users.email", "users.name", "users.disabled_at"])
      .where("sessions.id", "=", sha256Hex(sessionId))
      .executeTakeFirst();
    if (!row || row.disabled_at) return [null, null];
    return [
      { id: sessionId, userId: row.user_id, expiresAt: row.expires_at, attributes: {} },
      { id: row.user_id, attributes: { email: row.email, name: row.name } },
    ];
  }

  /** Returns hashed ids: raw session ids are never stored, so they cannot be listed. */
  async getUserSessions(userId: string): Promise<DatabaseSession[]> {
    const rows = await this.sessions()
      .selectFrom("sessions")
      .select(["id", "expires_at"])
      .where("user_id", "=", userId)
      .execute();
    return rows.map((r) => ({ id: r.id, userId, expiresAt: r.expires_at, attributes: {} }));
  }

  async setSession(session: DatabaseSession): Promise<void> {
    const attrs = session.attributes as { ip?: string | null; userAgent?: string | null };
    await this.sessions()
      .insertInto("sessions")
      .values({
        id: sha256Hex(session.id),
        user_id: session.userId,
        expires_at: session.expiresAt,
        ip: attrs.ip ?? null,
        user_agent: attrs.userAgent?.slice(0, 300) ?? null,
      })
      .execute();
  }

  async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
    await this.sessions()
      .updateTable("sessions")
      .set({ expires_at: expiresAt })
      .where("id", "=", sha256Hex(sessionId))
      .execute();
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.sessions().deleteFrom("sessions").where("id", "=", sha256Hex(sessionId)).execute();
  }

  async deleteUserSessions(userId: string): Promise<void> {
    await this.sessions().deleteFrom("sessions").where("user_id", "=", userId).execute();
  }

  async deleteExpiredSessions(): Promise<void> {
    await this.sessions().deleteFrom("sessions").where("expires_at", "<=", new Date()).execute();
  }
}
