import type { Actor } from "./actor";

/** What every domain verb receives about who asks and from where (for permissions and the audit log). */
export interface RequestContext {
  actor: Actor;
  ip?: string | null;
  requestId?: string | null;
}
