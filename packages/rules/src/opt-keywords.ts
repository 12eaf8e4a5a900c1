/**
 * The customer's word on messages the bank sends on its own (notifications, reminders, templates after
 * the 24-hour window): "STOP" ends them, "START" records the opt-in. Only a message that is nothing but
 * the keyword counts — "Stopp, ich meinte die andere Karte" is a conversation, not an opt-out.
 */
export type OptKeyword = "stop" | "start";

const STOP_WORDS = new Set(["stop", "stopp", "abmelden", "abbestellen", "unsubscribe"]);
const START_WORDS = new Set(["start", "anmelden"]);

export function optKeyword(text: string | null | undefined): OptKeyword | null {
  if (!text) return null;
  const word = text
    .normalize("NFKC")
    .trim()
    .replace(/^["'„“»«]+|["'“”»«.!]+$/g, "")
    .trim()
    .toLowerCase();
  if (STOP_WORDS.has(word)) return "stop";
  if (START_WORDS.has(word)) return "start";
  return null;
}

/** Confirmation of an opt-out; the customer can still write to the bank at any time. */
export function optOutConfirmationText(bankName?: string): string {
  const bank = bankName?.trim() ? `der ${bankName.trim()}` : "Ihrer Sparkasse";
  return `Sie erhalten ab sofort keine Benachrichtigungen ${bank} mehr über WhatsApp. Schreiben können Sie uns hier weiterhin jederzeit. Mit START melden Sie sich wieder an.`;
}

/** Confirmation of an opt-in given by writing START. */
export function optInConfirmationText(bankName?: string): string {
  const bank = bankName?.trim() ? `der ${bankName.trim()}` : "Ihrer Sparkasse";
  return `Danke! Sie erhalten ab jetzt Benachrichtigungen von ${bank} über WhatsApp. Mit STOP können Sie sie jederzeit wieder abbestellen.`;
}
