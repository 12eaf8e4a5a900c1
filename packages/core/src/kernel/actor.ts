import type { Role } from "@kanal/db";

export interface MembershipView {
  role: Role;
  tenantId: string | null;
  tenantSlug: string | null;
  kscOrgId: string | null;
  kscOrgSlug: string | null;
  maxChats: number;
}

export type Actor =
  | {
      kind: "user";
      userId: string;
      email: string;
      name: string;
      sessionId: string | null;
      memberships: MembershipView[];
    }
  | { kind: "api_key"; keyId: string; tenantId: string; scopes: string[] }
  | { kind: "system"; name: string };

export function isProviderAdmin(actor: Actor): boolean {
  return actor.kind === "user" && actor.memberships.some((m) => m.role === "provider_admin");
}

export function actorUserId(actor: Actor): string | null {
  return actor.kind === "user" ? actor.userId : null;
}

export function auditActor(actor: Actor): {
  actor_user_id: string | null;
  actor_kind: "user" | "api_key" | "system";
} {
  if (actor.kind === "user") return { actor_user_id: actor.userId, actor_kind: "user" };
  if (actor.kind === "api_key") return { actor_user_id: actor.keyId, actor_kind: "api_key" };
  return { actor_user_id: null, actor_kind: "system" };
}

export const systemActor = (name: string): Actor => ({ kind: "system", name });
