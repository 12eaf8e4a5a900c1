import type { RoutingConfig } from "./config";
import { modeNeedsKsc } from "./config";
import { closedPeriodKeyFor } from "./decide";
import { openingState } from "./service-hours";
import type { HandledBy } from "./types";

export interface ClosingQueuedConversation {
  conversationId: string;
  queuedAt: Date;
  /** Handed to the bank because the rules reserve it to the bank (e.g. by a KSC agent): never moved to the KSC. */
  reservedToBank?: boolean;
}

export interface ClosingOpenConversation {
  conversationId: string;
  assigneeUserId: string;
  handledBy: HandledBy;
}

export interface ClosingInput {
  config: RoutingConfig;
  bank: { region: string; timezone: string };
  kscContracted: boolean;
  /** The moment the service hours ended (or any moment after it). */
  now: Date;
  /** Conversations waiting in the bank queue. */
  queued: readonly ClosingQueuedConversation[];
  /** Open conversations held by the bank's people. */
  open: readonly ClosingOpenConversation[];
}

export type ClosingRule =
  | "closing.still_open"
  | "closing.no_ksc_coverage"
  | "closing.reserved_to_bank"
  | "closing.queued_to_ksc"
  | "closing.queued_stay"
  | "closing.open_stay"
  | "closing.open_to_ksc"
  | "closing.advisor_stays"
  | "closing.ksc_unaffected";

export interface ClosingAction {
  conversationId: string;
  action: "move_to_ksc_queue" | "stay";
  /** Nobody answers this waiting chat until the next opening: send the away message (once per closedPeriodKey). */
  sendAwayMessage: boolean;
  rule: ClosingRule;
  reason: string;
  reasonDe: string;
}

export interface ClosingDecision {
  /** false when `now` is still inside service hours: then every action is "stay". */
  closed: boolean;
  nextOpening: Date | null;
  closedPeriodKey: string | null;
  actions: ClosingAction[];
}

/**
 * The edge-of-hours policy, run when service hours end: chats waiting in the bank queue go to the
 * KSC queue by default (queuedAtClosing), open chats stay with their agent by default
 * (openAtClosing). Only when a KSC is contracted and the mode uses it.
 */
export function decideAtClosing(input: ClosingInput): ClosingDecision {
  const { config } = input;
  const opening = openingState(config, input.bank.region, input.bank.timezone, input.now);
  const kscCovers = input.kscContracted && modeNeedsKsc(config.mode);
  const act = (
    conversationId: string,
    action: ClosingAction["action"],
    sendAwayMessage: boolean,
    rule: ClosingRule,
    reason: string,
    reasonDe: string,
  ): ClosingAction => ({ conversationId, action, sendAwayMessage, rule, reason, reasonDe });

  if (opening.open) {
    const still = "The bank is still inside its service hours, so nothing changes.";
    const stillDe = "Die Bank ist noch innerhalb ihrer Servicezeiten, daher ändert sich nichts.";
    return {
      closed: false,
      nextOpening: null,
      closedPeriodKey: null,
      actions: [...input.queued, ...input.open].map((c) =>
        act(c.conversationId, "stay", false, "closing.still_open", still, stillDe),
      ),
    };
  }

  const queuedActions = input.queued.map((c) => {
    if (c.reservedToBank) {
      return act(
        c.conversationId,
        "stay",
        true,
        "closing.reserved_to_bank",
        "This chat is reserved to the bank, so it waits in the bank queue until the next opening.",
        "Dieser Chat ist der Bank vorbehalten und wartet daher bis zur nächsten Öffnung in der Bank-Warteschlange.",
      );
    }
    if (!kscCovers) {
      return act(
        c.conversationId,
        "stay",
        true,
        "closing.no_ksc_coverage",
        "No KSC covers the closed hours, so the chat waits in the bank queue until the next opening.",
        "Kein KSC deckt die Schließzeit ab, daher wartet der Chat bis zur nächsten Öffnung in der Bank-Warteschlange.",
      );
    }
    if (config.queuedAtClosing === "to_ksc") {
      return act(
        c.conversationId,
        "move_to_ksc_queue",
        false,
        "closing.queued_to_ksc",
        "Service hours ended while the chat was waiting, so it moves to the KSC queue.",
        "Die Servicezeit endete, während der Chat wartete, daher wechselt er in die KSC-Warteschlange.",
      );
    }
    return act(
      c.conversationId,
      "stay",
      true,
      "closing.queued_stay",
      "Service hours ended; the bank keeps waiting chats in its queue until the next opening.",
      "Die Servicezeit ist beendet; die Bank behält wartende Chats bis zur nächsten Öffnung in ihrer Warteschlange.",
    );
  });

  const openActions = input.open.map((c) => {
    if (c.handledBy === "ksc") {
      return act(
        c.conversationId,
        "stay",
        false,
        "closing.ksc_unaffected",
        "The KSC already handles this chat; the bank's closing does not affect it.",
        "Das KSC bearbeitet diesen Chat bereits; die Schließzeit der Bank betrifft ihn nicht.",
      );
    }
    if (c.handledBy === "advisor") {
      return act(
        c.conversationId,
        "stay",
        false,
        "closing.advisor_stays",
        "Chats with a personal advisor stay with the advisor.",
        "Chats mit dem persönlichen Berater bleiben beim Berater.",
      );
    }
    if (kscCovers && config.openAtClosing === "to_ksc") {
      return act(
        c.conversationId,
        "move_to_ksc_queue",
        false,
        "closing.open_to_ksc",
        "Service hours ended and the bank hands open chats to the KSC at closing.",
        "Die Servicezeit ist beendet und die Bank übergibt offene Chats bei Schließung an das KSC.",
      );
    }
    return act(
      c.conversationId,
      "stay",
      false,
      kscCovers ? "closing.open_stay" : "closing.no_ksc_coverage",
      "Open chats stay with the agent who is handling them.",
      "Offene Chats bleiben bei der Person, die sie bearbeitet.",
    );
  });

  return {
    closed: true,
    nextOpening: opening.nextOpening,
    closedPeriodKey: closedPeriodKeyFor(opening),
    actions: [...queuedActions, ...openActions],
  };
}

/** Whether an assigned chat waited unanswered long enough to be reassigned (unansweredReassignMinutes). */
export function isUnansweredOverdue(
  config: Pick<RoutingConfig, "unansweredReassignMinutes">,
  assignment: { assignedAt: Date; answeredAt: Date | null },
  now: Date,
): boolean {
  if (config.unansweredReassignMinutes === null || assignment.answeredAt !== null) return false;
  return now.getTime() - assignment.assignedAt.getTime() >= config.unansweredReassignMinutes * 60_000;
}
