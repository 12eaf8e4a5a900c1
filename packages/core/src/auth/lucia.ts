import { Lucia, TimeSpan } from "lucia";
import type { Db } from "@kanal/db";
import { HashedSessionAdapter } from "./session-adapter";

export const SESSION_COOKIE = "kanal_session";

/** Lucia is kept behind this module (ADR 0003): the rest of the code sees createAuth()'s narrow surface. */
export function createLucia(db: Db, options: { secureCookies: boolean; ttlHours: number }) {
  return new Lucia(new HashedSessionAdapter(db), {
    sessionExpiresIn: new TimeSpan(options.ttlHours, "h"),
    sessionCookie: {
      name: SESSION_COOKIE,
      expires: false,
      attributes: { secure: options.secureCookies, sameSite: "strict", path: "/" },
    },
    getUserAttributes: (attributes) => ({ email: attributes.email, name: attributes.name }),
  });
}

export type KanalLucia = ReturnType<typeof createLucia>;

declare module "lucia" {
  interface Register {
    Lucia: KanalLucia;
    DatabaseUserAttributes: { email: string; name: string };
    DatabaseSessionAttributes: { ip?: string | null; userAgent?: string | null };
  }
}
