import { maskForKsc, optKeyword, type Rule } from "@kanal/rules";

const MASKED_CARD = /\*{4} \*{4} \*{4} \d{4}/;
const MASKED_SECRET = /(?<![*\w])\*{4}(?![*\w])/;

/**
 * The webhook payload is masked before it is even stored, so the ingest may see masked text and report no
 * findings; the masks themselves tell that the customer sent a card number or a secret.
 */
export function sensitiveKindsInMaskedText(text: string): string[] {
  const kinds: string[] = [];
  if (MASKED_CARD.test(text)) kinds.push("card_number");
  if (MASKED_SECRET.test(text.replace(/\*{4} \*{4} \*{4} \d{4}/g, ""))) kinds.push("secret");
  return kinds;
}

/**
 * The kinds of sensitive data the customer's hint is about. Card numbers and secrets were masked by the
 * ingest (sensitiveKinds); IBANs and account numbers are stored for the bank but still deserve the hint.
 */
export function hintKinds(text: string | null, sensitiveKinds: readonly string[]): string[] {
  const extra = text
    ? maskForKsc(text).findings.flatMap((finding) =>
        finding.kind === "iban" || finding.kind === "account_number" ? [finding.kind] : [],
      )
    : [];
  return [...new Set([...sensitiveKinds, ...extra, ...sensitiveKindsInMaskedText(text ?? "")])];
}

/** The markers on a conversation that make an automatic reply and a callback suggestion once per topic. */
export const autoReplyMarker = (ruleId: string) => `auto_reply:${ruleId}`;
export const callbackMarker = (ruleId: string) => `callback:${ruleId}`;

/** What the ingest knows about the conversation right after storing (and maybe routing) the message. */
export interface FollowUpState {
  /** the KSC holds the chat or it waits in the KSC queue (null: not known yet, e.g. routing is pending) */
  kscSide: boolean | null;
  flags: readonly string[];
}

/**
 * Whether `after-inbound` would do anything for this message in this conversation: a hint (audited each
 * time), STOP/START, an automatic reply or callback suggestion not yet given for this topic, or a handover
 * to the advisor of a chat the KSC has. Judged with what the ingest's transaction just read, so a message
 * whose follow-up is already done, or does not apply, costs no job; the job itself still claims every
 * effect, so a race between two messages of one topic only costs a job that finds its work done.
 */
export function followUpNeeded(
  message: {
    text: string | null;
    sensitiveKinds: readonly string[];
    ruleId: string | null;
    ruleAction: Rule["action"]["type"] | null;
  },
  state: FollowUpState,
): boolean {
  if (hintKinds(message.text, message.sensitiveKinds).length > 0 || optKeyword(message.text) !== null)
    return true;
  if (message.ruleId === null) return false;
  switch (message.ruleAction) {
    case "redirect_to_phone":
      return !state.flags.includes(autoReplyMarker(message.ruleId));
    case "offer_callback":
      return !state.flags.includes(callbackMarker(message.ruleId));
    case "handover_to_advisor":
      return state.kscSide !== false;
    default:
      return false;
  }
}
