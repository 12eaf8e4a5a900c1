import { isValidIBAN } from "ibantools";

/**
 * The data-protection guard for inbound customer text. `maskInbound` runs before
 * anything is stored (card numbers never reach storage in clear); `maskForKsc` is what a
 * KSC agent sees. Masked values are replaced, not encrypted: the clear value cannot be
 * recovered from the output or from the findings.
 */
export type SecretType = "pin" | "tan" | "password" | "cvc";

export type MaskFinding =
  | { kind: "card_number"; last4: string; replacement: string }
  | { kind: "secret"; secretType: SecretType; replacement: string }
  | { kind: "iban"; countryCode: string; last4: string; replacement: string }
  | { kind: "account_number"; replacement: string };

export interface MaskResult {
  text: string;
  findings: MaskFinding[];
}

const SECRET_MASK = "****";

// 13–19 digits, single spaces or dashes between them, not part of a longer digit run.
const CARD_CANDIDATE = /(?<![\d+])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d)/g;

// A digit run right after one of these labels is an order or reference number, not a card.
const REFERENCE_LABEL =
  /(?:bestell|auftrags|rechnungs|vorgangs|sendungs|kunden|vertrags|referenz|ticket|tracking|order|paket|artikel|mandats|glaeubiger|gläubiger)[\s-]*(?:nummer|nr\.?|id|no\.?)?\s*[:#]?\s*$/iu;

export function isLuhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** A card number's digits: a scheme's first digit (2–6) and a valid Luhn check digit. */
function looksLikeCard(digits: string): boolean {
  // Card schemes start with 2–6 (Mastercard, Amex/Diners/JCB, Visa, Maestro/Discover/UnionPay);
  // German phone numbers start with 0 or +, order numbers rarely pass Luhn and this prefix.
  const first = digits.charCodeAt(0) - 48;
  return digits.length >= 13 && digits.length <= 19 && first >= 2 && first <= 6 && isLuhnValid(digits);
}

function cardFinding(digits: string, findings: MaskFinding[]): string {
  const last4 = digits.slice(-4);
  const replacement = `**** **** **** ${last4}`;
  findings.push({ kind: "card_number", last4, replacement });
  return replacement;
}

const afterReferenceLabel = (text: string, offset: number) =>
  REFERENCE_LABEL.test(text.slice(Math.max(0, offset - 30), offset));

// Several groups of digits with single spaces or dashes between them, not glued to letters (an IBAN's
// "DE89 …" is the IBAN masker's) and not part of a longer run.
const DIGIT_GROUPS = /(?<![\d+\p{L}])(?<!\d[ -])\d+(?:[ -]\d+)+(?![ -]?\d)/gu;

/** The longest window of consecutive groups from `start` that forms a card number (-1: none). */
function cardEndFrom(groups: readonly string[], start: number): { end: number; length: number } {
  let end = -1;
  let digits = "";
  for (let j = start; j < groups.length && digits.length < 19; j++) {
    digits += groups[j];
    if (j > start && looksLikeCard(digits)) end = j;
  }
  return { end, length: end < 0 ? 0 : groups.slice(start, end + 1).join("").length };
}

/**
 * A card number typed among other digits ("123456 4111 1111 1111 1111", "4111 1111 1111 1111 12 27" with
 * the expiry): within a run of digit groups, the consecutive groups that form a card number. A 16-digit
 * window is preferred (most cards; a chance Luhn match that starts in the digits before the card must not
 * leave the card's own digits in clear), otherwise the earliest. Group boundaries keep this from finding
 * cards inside any long number.
 */
function maskCardsAmongGroups(run: string, findings: MaskFinding[]): string {
  const parts = run.split(/([ -])/);
  const groups = parts.filter((_, i) => i % 2 === 0);
  // Each group with the separator before it, as typed.
  const separatorBefore = (g: number) => (g === 0 ? "" : (parts[2 * g - 1] as string));
  const windows = groups.map((_, start) => ({ start, ...cardEndFrom(groups, start) }));
  let out = "";
  let i = 0;
  while (i < groups.length) {
    const ahead = windows.filter((w) => w.start >= i && w.end >= 0);
    const chosen = ahead.find((w) => w.length === 16) ?? ahead[0];
    const next = chosen?.start ?? groups.length;
    for (; i < next; i++) out += separatorBefore(i) + groups[i];
    if (!chosen) break;
    out += separatorBefore(i) + cardFinding(groups.slice(chosen.start, chosen.end + 1).join(""), findings);
    i = chosen.end + 1;
  }
  return out;
}

function maskCardNumbers(text: string, findings: MaskFinding[]): string {
  const wholeRuns = text.replace(CARD_CANDIDATE, (candidate: string, offset: number) => {
    const digits = candidate.replace(/[ -]/g, "");
    if (!looksLikeCard(digits) || afterReferenceLabel(text, offset)) return candidate;
    return cardFinding(digits, findings);
  });
  return wholeRuns.replace(DIGIT_GROUPS, (run: string, offset: number) =>
    afterReferenceLabel(wholeRuns, offset) ? run : maskCardsAmongGroups(run, findings),
  );
}

const SECRET_KEYWORD =
  /\b(pin(?:-?nummer|-?code)?|geheimzahl|geheimnummer|(?:push-?|sms-?|chip-?|mobile-?)?tan(?:-?nummer|-?code)?|transaktionsnummer|passwort|passwords?|kennwort|cvc2?|cvv2?|(?:karten)?(?:prüf|pruef)(?:ziffer|nummer|zahl)|sicherheitscode)\b/giu;

// Words between the keyword and the value: "meine TAN ist die 123456", "PIN lautet: 1234".
const VERB = /^\s*(?:(?:ist|lautet|lautete|lauten|war|wäre|waere|heißt|heisst|lautet)\b)/iu;
const FILLER = /^\s+(?:jetzt|nun|noch|immer|die|der|das|neue|alte|aktuell|momentan|übrigens|uebrigens)\b/iu;
const ASSIGN = /^\s*[:=]\s*/u;

// Tokens after "Passwort ist …" that describe the secret rather than being it.
const NOT_A_SECRET = new Set([
  "vergessen",
  "gesperrt",
  "falsch",
  "abgelaufen",
  "geändert",
  "geaendert",
  "nicht",
  "kein",
  "keine",
  "weg",
  "ungültig",
  "ungueltig",
  "korrekt",
  "richtig",
  "zu",
  "noch",
  "schon",
  "leider",
  "eingegeben",
  "blockiert",
  "sicher",
  "geheim",
  "neu",
  "anders",
  "gleich",
  "dasselbe",
  "dieselbe",
  "unbekannt",
  "verloren",
  "mehr",
  "auch",
  "bei",
  "im",
  "in",
  "per",
  "mit",
  "und",
  "oder",
  "angekommen",
  "da",
  "seit",
  "wohl",
  "nach",
  "auf",
  "immer",
]);

function secretTypeOf(keyword: string): SecretType {
  const lower = keyword.toLowerCase();
  if (lower.startsWith("pin") || lower.startsWith("geheim")) return "pin";
  if (lower.includes("tan") || lower.startsWith("transaktion")) return "tan";
  if (lower.startsWith("pass") || lower.startsWith("kenn")) return "password";
  return "cvc";
}

const DIGITS_BY_TYPE: Record<SecretType, RegExp> = {
  pin: /^\d{4,8}(?!\d)/u,
  tan: /^\d{4,8}(?!\d)/u,
  cvc: /^\d{3,4}(?!\d)/u,
  password: /^$/u,
};

/** Finds where the secret value after a keyword starts and ends, or undefined. */
function secretValueAfter(text: string, from: number, type: SecretType): [number, number] | undefined {
  let position = from;
  let explicit = false;
  let assigned = false;
  const verb = VERB.exec(text.slice(position));
  if (verb !== null) {
    position += verb[0].length;
    explicit = true;
  }
  for (let guard = 0; guard < 3; guard++) {
    const filler = FILLER.exec(text.slice(position));
    if (filler === null) break;
    position += filler[0].length;
  }
  const assign = ASSIGN.exec(text.slice(position));
  if (assign !== null) {
    position += assign[0].length;
    explicit = true;
    assigned = true;
  } else {
    const spaces = /^\s*/u.exec(text.slice(position));
    position += spaces?.[0].length ?? 0;
  }
  const rest = text.slice(position);
  if (type !== "password") {
    const digits = DIGITS_BY_TYPE[type].exec(rest);
    if (digits !== null) return [position, position + digits[0].length];
  }
  // "Passwort: Sommer24!" or "meine PIN ist ab12c": a token after an explicit ":" or "ist".
  if (!explicit) return undefined;
  const token = /^[^\s]+/u.exec(rest);
  if (token === null) return undefined;
  const value = token[0].replace(/[.,;:!?)"'“”]+$/u, "");
  if (value.length < 3 || NOT_A_SECRET.has(value.toLowerCase())) return undefined;
  if (type !== "password" && !/\d/u.test(value)) return undefined;
  // After "ist" (no colon) only something that looks like a password: digits, symbols or inner capitals.
  if (!assigned && !/[\d_]|[^\p{L}\p{N}]|.\p{Lu}/u.test(value)) return undefined;
  return [position, position + value.length];
}

function maskSecrets(text: string, findings: MaskFinding[]): string {
  const ranges: Array<{ start: number; end: number; type: SecretType }> = [];
  for (const match of text.matchAll(SECRET_KEYWORD)) {
    const type = secretTypeOf(match[1] ?? "");
    const range = secretValueAfter(text, (match.index ?? 0) + match[0].length, type);
    if (range !== undefined) ranges.push({ start: range[0], end: range[1], type });
  }
  // "1234 ist meine PIN"
  for (const match of text.matchAll(
    /(?<![\d*])(\d{4,8})\s+(?:ist|war|wäre|waere)\s+(?:meine|die|deine)\s+(?:neue\s+|alte\s+)?(pin|tan|geheimzahl)\b/giu,
  )) {
    const start = match.index ?? 0;
    ranges.push({ start, end: start + (match[1]?.length ?? 0), type: secretTypeOf(match[2] ?? "") });
  }
  if (ranges.length === 0) return text;
  ranges.sort((a, b) => a.start - b.start);
  let out = "";
  let cursor = 0;
  for (const range of ranges) {
    if (range.start < cursor) continue;
    out += text.slice(cursor, range.start) + SECRET_MASK;
    cursor = range.end;
    findings.push({ kind: "secret", secretType: range.type, replacement: SECRET_MASK });
  }
  return out + text.slice(cursor);
}

/** Card numbers (Luhn-valid) and PINs, TANs, passwords, CVCs typed by the customer. */
export function maskInbound(text: string): MaskResult {
  const findings: MaskFinding[] = [];
  const withoutCards = maskCardNumbers(text, findings);
  const masked = maskSecrets(withoutCards, findings);
  return { text: masked, findings };
}

const IBAN_CANDIDATE = /\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){10,30}/g;

function maskIbans(text: string, findings: MaskFinding[]): string {
  let out = "";
  let cursor = 0;
  IBAN_CANDIDATE.lastIndex = 0;
  for (let match = IBAN_CANDIDATE.exec(text); match !== null; match = IBAN_CANDIDATE.exec(text)) {
    const candidate = match[0];
    // Electronic form plus where each of its characters sits in the candidate.
    let electronic = "";
    const positions: number[] = [];
    for (let i = 0; i < candidate.length; i++) {
      const ch = candidate[i] as string;
      if (ch === " ") continue;
      electronic += ch.toUpperCase();
      positions.push(i);
    }
    // The candidate may run into following words ("DE89 … 00 bitte"): try the longest valid prefix.
    let found = 0;
    for (let length = Math.min(34, electronic.length); length >= 15; length--) {
      if (isValidIBAN(electronic.slice(0, length))) {
        found = length;
        break;
      }
    }
    if (found === 0) continue;
    const iban = electronic.slice(0, found);
    const end = match.index + (positions[found - 1] ?? 0) + 1;
    const countryCode = iban.slice(0, 2);
    const last4 = iban.slice(-4);
    const replacement = `${countryCode}** **** **** **** ${last4}`;
    out += text.slice(cursor, match.index) + replacement;
    cursor = end;
    IBAN_CANDIDATE.lastIndex = end;
    findings.push({ kind: "iban", countryCode, last4, replacement });
  }
  return out + text.slice(cursor);
}

const ACCOUNT_NUMBER =
  /\b(konto(?:-?nummer|-?nr\.?)?|kto\.?\s?-?nr\.?|depot(?:-?nummer|-?nr\.?)|depotnr\.?)(\s*(?:ist|lautet|:|=|-)?\s*)(\d(?:[ ]?\d){4,11})(?![\d*])/giu;

function maskAccountNumbers(text: string, findings: MaskFinding[]): string {
  return text.replace(
    ACCOUNT_NUMBER,
    (whole: string, label: string, between: string, number: string, offset: number) => {
      const digits = number.replace(/ /g, "");
      // A bare "Konto" needs a longer number: "Konto 15000 Euro im Minus" is an amount.
      if (/^konto$/iu.test(label) && digits.length < 6) return whole;
      if (/^\s*(?:euro|eur|€)/iu.test(text.slice(offset + whole.length))) return whole;
      const replacement = `****${digits.slice(-2)}`;
      findings.push({ kind: "account_number", replacement });
      return label + between + replacement;
    },
  );
}

/** What a KSC agent sees: `maskInbound` plus valid IBANs and account/depot numbers. */
export function maskForKsc(text: string): MaskResult {
  const inbound = maskInbound(text);
  const findings = [...inbound.findings];
  const withoutIbans = maskIbans(inbound.text, findings);
  return { text: maskAccountNumbers(withoutIbans, findings), findings };
}

/** True when the customer sent data that should not travel over WhatsApp (send the hint once). */
export function containsSensitiveData(text: string): boolean {
  return maskForKsc(text).findings.length > 0;
}
