export type AgentKind = "bank" | "ksc" | "advisor";
export type Presence = "online" | "away" | "offline";
export type HandledBy = "in_house" | "ksc" | "advisor";
export type QueueSide = "bank" | "ksc";

/** One person who could receive a chat, as loaded by the caller at decision time. */
export interface RoutingAgent {
  userId: string;
  /** Shown in the decision's reason, so an admin reads names, not ids. */
  name?: string | null;
  kind: AgentKind;
  presence: Presence;
  /** Open conversations this person holds now; for KSC agents across ALL banks they serve. */
  openCount: number;
  /** Maximum simultaneous chats; null = no limit. An agent at the maximum is not eligible. */
  maxChats: number | null;
  /** Last time a chat was assigned to them; null = never (counts as waiting longest). */
  lastAssignedAt: Date | null;
  /** Inside an absence period (holiday, sickness): never eligible. */
  absent: boolean;
  /** Advisors: who stands in while they are unavailable. */
  deputyUserId?: string | null;
}

/** Side of the house a user kind belongs to; advisors count as the bank's. */
export function handledByForKind(kind: AgentKind): HandledBy {
  if (kind === "ksc") return "ksc";
  if (kind === "advisor") return "advisor";
  return "in_house";
}

/** Why a person can or cannot take a chat right now, independent of routing mode. */
export function personAvailability(agent: RoutingAgent): { available: boolean; why: string; whyDe: string } {
  if (agent.absent) return { available: false, why: "absent", whyDe: "abwesend" };
  if (agent.presence === "offline") return { available: false, why: "offline", whyDe: "offline" };
  if (agent.presence === "away") return { available: false, why: "away", whyDe: "abwesend gemeldet (away)" };
  if (agent.maxChats !== null && agent.openCount >= agent.maxChats) {
    return {
      available: false,
      why: `at maximum (${agent.openCount} of ${agent.maxChats} chats)`,
      whyDe: `am Maximum (${agent.openCount} von ${agent.maxChats} Chats)`,
    };
  }
  const limit = agent.maxChats === null ? "" : ` of ${agent.maxChats}`;
  const limitDe = agent.maxChats === null ? "" : ` von ${agent.maxChats}`;
  return {
    available: true,
    why: `online, ${agent.openCount}${limit} chats`,
    whyDe: `online, ${agent.openCount}${limitDe} Chats`,
  };
}

/**
 * Least loaded first; ties go to whoever waited longest since their last assignment (never
 * assigned = longest); userId last so the order is deterministic.
 */
export function compareByLoad(a: RoutingAgent, b: RoutingAgent): number {
  if (a.openCount !== b.openCount) return a.openCount - b.openCount;
  const aLast = a.lastAssignedAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  const bLast = b.lastAssignedAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (aLast !== bLast) return aLast < bLast ? -1 : 1;
  return a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0;
}
