import { BANK_SERVICE_PHONE_PLACEHOLDER, type Rule } from "./schema";

/** Friendly hint for a customer who sent card numbers, PINs, TANs, passwords or IBANs; send it once. */
export function sensitiveDataHintText(bankName?: string): string {
  const bank = bankName?.trim() ? `der ${bankName.trim()}` : "Ihrer Sparkasse";
  return `Bitte senden Sie uns über WhatsApp keine vertraulichen Daten wie Kartennummern, PIN, TAN, Passwörter oder Kontonummern. Zu Ihrem Schutz machen wir solche Angaben unkenntlich. Übrigens: Niemand von ${bank} wird Sie jemals nach Ihrer PIN, TAN oder Ihrem Passwort fragen.`;
}

export interface RedirectReplyOptions {
  /** the bank's service number, replaces {{bank.phone}} */
  servicePhone?: string;
}

/**
 * Automatic polite reply for rules whose action sends the customer to the phone
 * (card blocking, transfers, securities orders) or offers a callback. Returns null
 * for actions that need no automatic reply.
 */
export function redirectReplyText(
  rule: Rule,
  bankName: string,
  options: RedirectReplyOptions = {},
): string | null {
  const bank = bankName.trim() || "Ihre Sparkasse";
  const action = rule.action;
  if (action.type === "offer_callback") {
    return `Vielen Dank für Ihre Nachricht an die ${bank}. Ihr Anliegen „${rule.topic}“ besprechen wir am besten persönlich: Gern ruft Sie eine Beraterin oder ein Berater zurück. Wann sind Sie gut erreichbar?`;
  }
  if (action.type !== "redirect_to_phone") return null;

  const reason =
    action.reason ??
    "Aufträge und vertrauliche Anliegen können wir aus Datenschutzgründen leider nicht über WhatsApp annehmen.";
  if (action.phoneNumber.replace(/\s/g, "") === "116116") {
    return `${reason} Bitte lassen Sie Ihre Karte sofort über den Sperr-Notruf 116 116 sperren – kostenfrei und rund um die Uhr erreichbar, aus dem Ausland unter +49 116 116. Ihre ${bank}`;
  }
  const phone =
    action.phoneNumber === BANK_SERVICE_PHONE_PLACEHOLDER
      ? options.servicePhone?.trim()
        ? `unter ${options.servicePhone.trim()}`
        : "unter der bekannten Servicenummer"
      : `unter ${action.phoneNumber}`;
  return `Vielen Dank für Ihre Nachricht. ${reason} Bitte rufen Sie uns ${phone} an – wir helfen Ihnen dort gern weiter. Alternativ erledigen Sie Ihr Anliegen bequem im Online-Banking. Ihre ${bank}`;
}
