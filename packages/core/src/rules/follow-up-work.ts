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

/**
 * Whether `after-inbound` has anything to do for a message: a hint to send, a rule action other than
 * answering, or a STOP/START to record. Most messages have none; the ingest then enqueues no job at all.
 */
export function afterInboundHasWork(
  text: string | null,
  sensitiveKinds: readonly string[],
  ruleAction: Rule["action"]["type"] | null,
): boolean {
  return (
    (ruleAction !== null && ruleAction !== "answer") ||
    hintKinds(text, sensitiveKinds).length > 0 ||
    optKeyword(text) !== null
  );
}
