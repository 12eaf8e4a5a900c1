import { getCountrySpecifications, isValidIBAN } from "ibantools";
import { type DigitView, digitView, viewToOriginal } from "./normalize";

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

/*
 * Detection runs on a `digitView` of the text (every Unicode digit as ASCII, a run of separators between
 * digits as one space: "4111.1111", "４１１１ １１１１", "4111\u00A0\u00A01111", "4111_1111", "4111\n1111",
 * "4111,1111" all read "4111 1111"; see `digitView` for which separators join groups); the replacements go
 * into the original text. Every pattern below is linear: no nested quantifiers over the
 * same characters.
 */

/** A replacement of the original text's [start, end). */
interface Replacement {
  start: number;
  end: number;
  replacement: string;
}

/** The replacement of a view range. */
function inOriginal(view: DigitView, start: number, end: number, replacement: string): Replacement {
  const [from, to] = viewToOriginal(view, start, end);
  return { start: from, end: to, replacement };
}

/**
 * Applies replacements (sorted, not overlapping) to the original text and returns the view of the result:
 * the same view when nothing changed, so a text without findings is looked at through one view only.
 */
function replaced(view: DigitView, replacements: ReadonlyArray<Replacement>): DigitView {
  if (replacements.length === 0) return view;
  const parts: string[] = [];
  let cursor = 0;
  for (const { start, end, replacement } of replacements) {
    parts.push(view.original.slice(cursor, start), replacement);
    cursor = end;
  }
  parts.push(view.original.slice(cursor));
  return digitView(parts.join(""));
}

const CARD_REPLACEMENT_PREFIX = "**** **** **** ";

// A run of digit groups in the view (groups joined by one space), not part of a phone number ("+49 …"),
// not the tail of a longer run and not the last four of an earlier replacement (masking stays idempotent).
const DIGIT_RUN = /(?<![\d+])(?<!\d )(?<!\*{4} \*{4} \*{4} )\d+(?: \d+)*/g;

// A digit run right after one of these labels is an order or reference number, not a card …
const REFERENCE_LABEL =
  /(?:bestell|auftrags|rechnungs|vorgangs|sendungs|kunden|vertrags|referenz|ticket|tracking|order|paket|artikel|mandats|glaeubiger|gläubiger)[\s-]*(?:nummer|nr\.?|id|no\.?)?\s*[:#]?\s*$/iu;
// … unless it has the length of almost every card (Visa, Mastercard, Maestro, Amex): those are masked
// even after such a label; a customer who writes "Kundennummer" may well be giving the card number.
const CARD_LENGTHS_AFTER_LABEL = new Set([15, 16]);

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

function cardReplacement(digits: string, findings: MaskFinding[]): string {
  const last4 = digits.slice(-4);
  const replacement = `${CARD_REPLACEMENT_PREFIX}${last4}`;
  findings.push({ kind: "card_number", last4, replacement });
  return replacement;
}

const afterReferenceLabel = (text: string, offset: number) =>
  REFERENCE_LABEL.test(text.slice(Math.max(0, offset - 30), offset));

/**
 * A date and time as cameras, scanners and phones put them into file names ("IMG_20240512_143022.jpg",
 * "Screenshot_2024-05-12-14-30-22.png", "PXL_20240512_143022123.jpg"): 14 or 17 digits, YYYYMMDDHHMMSS
 * and milliseconds, the date a group (or groups) of its own. Now that underscores join groups, one in ten
 * of them would pass Luhn. No card scheme issues 14- or 17-digit numbers starting with 20 (Mastercard's
 * 2-series is 2221–2720, 16 digits), so this costs no card.
 */
function isTimestamp(digits: string, groups: readonly string[], first: number): boolean {
  if (digits.length !== 14 && digits.length !== 17) return false;
  let dateDigits = 0;
  for (let g = first; dateDigits < 8 && g < groups.length; g++) dateDigits += (groups[g] as string).length;
  if (dateDigits !== 8) return false;
  const at = (from: number) => Number(digits.slice(from, from + 2));
  const [century, month, day, hour, minute, second] = [at(0), at(4), at(6), at(8), at(10), at(12)];
  return (
    century === 20 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= 31 &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59
  );
}

/** Groups `first..last` (inclusive) of a run. */
interface GroupWindow {
  first: number;
  last: number;
}

class CardRun {
  constructor(
    private readonly groups: readonly string[],
    /** after a reference label: only the usual card lengths count */
    private readonly afterLabel: boolean,
  ) {}

  isCard(digits: string): boolean {
    return looksLikeCard(digits) && (!this.afterLabel || CARD_LENGTHS_AFTER_LABEL.has(digits.length));
  }

  /** Whether groups `first..` (their `digits`) form a card number. */
  private isCardAt(first: number, digits: string): boolean {
    return this.isCard(digits) && !isTimestamp(digits, this.groups, first);
  }

  /** The windows from group `start` (not past `limit`) that form a card number, shortest first. */
  windowsFrom(start: number, limit: number): GroupWindow[] {
    const windows: GroupWindow[] = [];
    const first = (this.groups[start] as string).charCodeAt(0);
    if (first < 50 || first > 54) return windows; // a card starts with 2–6
    let digits = "";
    for (let j = start; j <= limit && digits.length < 19; j++) {
      digits += this.groups[j];
      if (this.isCardAt(start, digits)) windows.push({ first: start, last: j });
    }
    return windows;
  }

  digitCount(window: GroupWindow): number {
    let count = 0;
    for (let g = window.first; g <= window.last; g++) count += (this.groups[g] as string).length;
    return count;
  }

  /**
   * The card numbers among groups `lo..hi`, in order. The whole range first. Otherwise, the earliest
   * group that starts a card; when a 16-digit window (most cards) starts within that card's reach, it is
   * taken instead (a chance Luhn match that starts in the digits before the card must not leave the
   * card's own digits in clear). The groups left before a chosen window are searched as a run of their
   * own, as a second masking pass would see them: masking stays idempotent.
   */
  cards(lo: number, hi: number, out: GroupWindow[]): void {
    if (lo > hi) return;
    if (this.isCardAt(lo, this.groups.slice(lo, hi + 1).join(""))) {
      out.push({ first: lo, last: hi });
      return;
    }
    let i = lo;
    while (i <= hi) {
      let windows: GroupWindow[] = [];
      let start = i;
      for (; start <= hi; start++) {
        windows = this.windowsFrom(start, hi);
        if (windows.length > 0) break;
      }
      const longest = windows[windows.length - 1];
      if (longest === undefined) return;
      let chosen = longest;
      search: for (let t = start; t <= longest.last; t++) {
        for (const window of t === start ? windows : this.windowsFrom(t, hi)) {
          if (this.digitCount(window) === 16) {
            chosen = window;
            break search;
          }
        }
      }
      if (chosen.first > i) this.cards(i, chosen.first - 1, out);
      out.push(chosen);
      i = chosen.last + 1;
    }
  }
}

const LETTER = /\p{L}/u;

/**
 * A card written "(4111) 1111 1111 1111" is replaced with its brackets: the "(" before it or the ")" after
 * it goes with the bracket the replaced range holds, so no half of a pair is left behind.
 */
function withBrackets(original: string, replacement: Replacement): Replacement {
  const { start, end } = replacement;
  let opens = 0;
  let closes = 0;
  for (let k = start; k < end; k++) {
    const code = original.charCodeAt(k);
    if (code === 40 || code === 0xff08) opens++;
    else if (code === 41 || code === 0xff09) closes++;
  }
  const before = original.charCodeAt(start - 1);
  const after = original.charCodeAt(end);
  return {
    ...replacement,
    start: closes > opens && (before === 40 || before === 0xff08) ? start - 1 : start,
    end: opens > closes && (after === 41 || after === 0xff09) ? end + 1 : end,
  };
}

function maskCardNumbers(view: DigitView, findings: MaskFinding[]): DigitView {
  // IBANs are not cards (and are masked for KSC viewers): their digits take no part in the search.
  const parts: string[] = [];
  let cursor = 0;
  for (const iban of findIbans(view)) {
    parts.push(view.text.slice(cursor, iban.start), "#".repeat(iban.end - iban.start));
    cursor = iban.end;
  }
  parts.push(view.text.slice(cursor));
  const scan = parts.join("");
  const replacements: Replacement[] = [];
  for (const match of scan.matchAll(DIGIT_RUN)) {
    const start = match.index;
    const groups = match[0].split(" ");
    const run = new CardRun(groups, afterReferenceLabel(scan, start));
    const windows: GroupWindow[] = [];
    const glued = start > 0 && LETTER.test(scan.charAt(start - 1));
    if (glued && !run.isCard(groups.join(""))) {
      // The first group is glued to letters ("AB12 3456 …", "geheim1 4111 …"): a card among the
      // groups starts after it.
      run.cards(1, groups.length - 1, windows);
    } else {
      run.cards(0, groups.length - 1, windows);
    }
    if (windows.length === 0) continue;
    const groupStart: number[] = [];
    let offset = start;
    for (const group of groups) {
      groupStart.push(offset);
      offset += group.length + 1;
    }
    for (const window of windows) {
      const from = groupStart[window.first] as number;
      const to = (groupStart[window.last] as number) + (groups[window.last] as string).length;
      const digits = groups.slice(window.first, window.last + 1).join("");
      replacements.push(
        withBrackets(view.original, inOriginal(view, from, to, cardReplacement(digits, findings))),
      );
    }
  }
  return replaced(view, replacements);
}

// Delimited by anything but a letter or digit: "PIN_1234" (a file name) as well as "PIN: 1234".
const SECRET_KEYWORD =
  /(?<![\p{L}\p{N}])(pin(?:-?nummer|-?code)?|geheimzahl|geheimnummer|(?:push-?|sms-?|chip-?|mobile-?)?tan(?:-?nummer|-?code)?|transaktionsnummer|passwort|passwords?|kennwort|cvc2?|cvv2?|(?:karten)?(?:prüf|pruef)(?:ziffer|nummer|zahl)|sicherheitscode)(?![\p{L}\p{N}])/giu;

// Words between the keyword and the value: "meine TAN ist die 123456", "PIN lautet: 1234".
const VERB = /\s*(?:(?:ist|lautet|lautete|lauten|war|wäre|waere|heißt|heisst)\b)/iuy;
const FILLER = /\s+(?:jetzt|nun|noch|immer|die|der|das|neue|alte|aktuell|momentan|übrigens|uebrigens)\b/iuy;
const ASSIGN = /\s*[:=]\s*/uy;
// Spaces or one underscore or dash in between: "PIN 1234", "PIN_1234.txt", "PIN-1234".
const SPACES = /\s*[_-]?\s*/uy;

/** The length of what `sticky` matches at `position` in `text`, or -1. */
function matchLengthAt(sticky: RegExp, text: string, position: number): number {
  sticky.lastIndex = position;
  const match = sticky.exec(text);
  return match === null ? -1 : match[0].length;
}

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

/** How many digits a PIN, TAN or CVC has. */
const DIGIT_COUNTS: Record<Exclude<SecretType, "password">, [number, number]> = {
  pin: [4, 8],
  tan: [4, 8],
  cvc: [3, 4],
};

const isDigitAt = (text: string, i: number) => {
  const code = text.charCodeAt(i);
  return code >= 48 && code <= 57;
};

/**
 * The end of a PIN/TAN/CVC typed at `position` of the view, or -1: digit groups ("1 2 3 4", "1-2-3-4",
 * "12 34 56": one space between groups in the view) with the right number of digits in all, otherwise a
 * first group of the right length ("PIN 1234 seit 12.05." masks the 1234 only).
 */
function secretDigitsEnd(text: string, position: number, [min, max]: [number, number]): number {
  let count = 0;
  let end = -1;
  let firstGroupEnd = -1;
  let i = position;
  for (;;) {
    let j = i;
    while (isDigitAt(text, j)) j++;
    if (j === i) break;
    count += j - i;
    if (firstGroupEnd < 0) firstGroupEnd = j;
    end = j;
    if (count > max || text.charCodeAt(j) !== 32 || !isDigitAt(text, j + 1)) break;
    i = j + 1;
  }
  if (firstGroupEnd < 0) return -1;
  if (count >= min && count <= max) return end;
  const first = firstGroupEnd - position;
  return first >= min && first <= max ? firstGroupEnd : -1;
}

const TOKEN = /\S+/uy;

/**
 * Finds where the secret value after a keyword starts and ends, as a range of the original text (digits
 * are found in the view; a password is the token as typed, "Sommer-2024" in one piece), or undefined.
 */
function secretValueAfter(view: DigitView, from: number, type: SecretType): [number, number] | undefined {
  const text = view.text;
  let position = from;
  let explicit = false;
  let assigned = false;
  const verb = matchLengthAt(VERB, text, position);
  if (verb >= 0) {
    position += verb;
    explicit = true;
  }
  for (let guard = 0; guard < 3; guard++) {
    const filler = matchLengthAt(FILLER, text, position);
    if (filler < 0) break;
    position += filler;
  }
  const assign = matchLengthAt(ASSIGN, text, position);
  if (assign >= 0) {
    position += assign;
    explicit = true;
    assigned = true;
  } else {
    position += Math.max(0, matchLengthAt(SPACES, text, position));
  }
  if (type !== "password") {
    const end = secretDigitsEnd(text, position, DIGIT_COUNTS[type]);
    if (end >= 0) return viewToOriginal(view, position, end);
  }
  // "Passwort: Sommer24!" or "meine PIN ist ab12c": a token after an explicit ":" or "ist".
  if (!explicit) return undefined;
  const start = view.originStart[position] ?? view.original.length;
  const token = matchLengthAt(TOKEN, view.original, start);
  if (token < 0) return undefined;
  const value = view.original.slice(start, start + token).replace(/[.,;:!?)"'“”]+$/u, "");
  if (value.length < 3 || NOT_A_SECRET.has(value.toLowerCase())) return undefined;
  // Already masked (a second pass over masked text finds nothing new).
  if (/^\*+$/u.test(value)) return undefined;
  if (type !== "password" && !/\p{Nd}/u.test(value)) return undefined;
  // After "ist" (no colon) only something that looks like a password: digits, symbols or inner capitals.
  if (!assigned && !/[\p{Nd}_]|[^\p{L}\p{N}]|.\p{Lu}/u.test(value)) return undefined;
  return [start, start + value.length];
}

// "1234 ist meine PIN", "1 2 3 4 ist meine PIN"
const SECRET_BEFORE_KEYWORD =
  /(?<![\d*])(?<!\d )(\d(?: ?\d){3,7})\s+(?:ist|war|wäre|waere)\s+(?:meine|die|deine)\s+(?:neue\s+|alte\s+)?(pin|tan|geheimzahl)\b/giu;

function maskSecrets(view: DigitView, findings: MaskFinding[]): DigitView {
  const ranges: Array<{ start: number; end: number; type: SecretType }> = [];
  for (const match of view.text.matchAll(SECRET_KEYWORD)) {
    const type = secretTypeOf(match[1] ?? "");
    const range = secretValueAfter(view, match.index + match[0].length, type);
    if (range !== undefined) ranges.push({ start: range[0], end: range[1], type });
  }
  for (const match of view.text.matchAll(SECRET_BEFORE_KEYWORD)) {
    const [start, end] = viewToOriginal(view, match.index, match.index + (match[1]?.length ?? 0));
    ranges.push({ start, end, type: secretTypeOf(match[2] ?? "") });
  }
  if (ranges.length === 0) return view;
  ranges.sort((a, b) => a.start - b.start);
  const replacements: Replacement[] = [];
  let cursor = 0;
  for (const range of ranges) {
    if (range.start < cursor) continue;
    replacements.push({ start: range.start, end: range.end, replacement: SECRET_MASK });
    cursor = range.end;
    findings.push({ kind: "secret", secretType: range.type, replacement: SECRET_MASK });
  }
  return replaced(view, replacements);
}

/**
 * Runs `pass` until it finds nothing new (at most a few times; each pass that finds something takes
 * digits out). A pass over text it has masked usually finds nothing; when masking one value changes how
 * the digits around it read (a password glued to digit groups, a PIN before a card), the next pass
 * catches what now shows. So masking the output again never finds anything: masking is idempotent.
 */
function untilStable(
  text: string,
  pass: (view: DigitView, findings: MaskFinding[]) => DigitView,
): MaskResult {
  const findings: MaskFinding[] = [];
  let view = digitView(text);
  for (let round = 0; round < 4; round++) {
    const before = findings.length;
    view = pass(view, findings);
    if (findings.length === before) break;
  }
  return { text: view.original, findings };
}

const inboundPass = (view: DigitView, findings: MaskFinding[]) =>
  maskSecrets(maskCardNumbers(view, findings), findings);

/** Card numbers (Luhn-valid) and PINs, TANs, passwords, CVCs typed by the customer. */
export function maskInbound(text: string): MaskResult {
  return untilStable(text, inboundPass);
}

// Country code, check digits and 10–30 more letters or digits, one separator (space, dash, dot, slash,
// underscore, a line break) allowed between any two of them (the view has already made a run of
// separators between digits one space). Not preceded by a letter or digit; an underscore delimits
// ("Rechnung_DE89…pdf", "IBAN_DE89…").
const IBAN_SEPARATOR = String.raw`(?:\r\n|[ ./_\n\r\v\f\u0085\u2028\u2029-])?`;
const IBAN_CANDIDATE = new RegExp(
  String.raw`(?<![A-Za-z0-9])[A-Za-z]{2}${IBAN_SEPARATOR}\d${IBAN_SEPARATOR}\d(?:${IBAN_SEPARATOR}[A-Za-z0-9]){10,30}`,
  "g",
);
/** The length of each country's IBANs. */
const IBAN_LENGTH = new Map(
  Object.entries(getCountrySpecifications()).flatMap(([country, spec]) =>
    spec.chars === null ? [] : [[country, spec.chars] as const],
  ),
);

interface IbanMatch {
  start: number;
  end: number;
  iban: string;
}

const ibansByView = new WeakMap<DigitView, IbanMatch[]>();

const isAsciiAlnum = (code: number) =>
  (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

/** Valid IBANs in a view, in order (looked for once per view: the card search needs them as well). */
function findIbans(view: DigitView): IbanMatch[] {
  const known = ibansByView.get(view);
  if (known !== undefined) return known;
  const text = view.text;
  const found: IbanMatch[] = [];
  ibansByView.set(view, found);
  const candidates = new RegExp(IBAN_CANDIDATE.source, IBAN_CANDIDATE.flags);
  for (let match = candidates.exec(text); match !== null; match = candidates.exec(text)) {
    const candidate = match[0];
    // Electronic form plus where each of its characters sits in the candidate. The candidate may run
    // into following words ("DE89 … 00 bitte"): the country's IBAN length decides where it ends.
    const length = IBAN_LENGTH.get(candidate.slice(0, 2).toUpperCase()) ?? 0;
    let electronic = "";
    let last = 0;
    for (let i = 0; i < candidate.length && electronic.length < length; i++) {
      const code = candidate.charCodeAt(i);
      if (!isAsciiAlnum(code)) continue; // a separator
      electronic += String.fromCharCode(code >= 97 ? code - 32 : code);
      last = i;
    }
    if (length === 0 || electronic.length < length || !isValidIBAN(electronic)) {
      // Maybe a valid IBAN starts later within the candidate ("Ref AB12 DE89 …").
      candidates.lastIndex = match.index + 1;
      continue;
    }
    const end = match.index + last + 1;
    found.push({ start: match.index, end, iban: electronic });
    candidates.lastIndex = end;
  }
  return found;
}

function maskIbans(view: DigitView, findings: MaskFinding[]): DigitView {
  const replacements = findIbans(view).map(({ start, end, iban }) => {
    const countryCode = iban.slice(0, 2);
    const last4 = iban.slice(-4);
    const replacement = `${countryCode}** **** **** **** ${last4}`;
    findings.push({ kind: "iban", countryCode, last4, replacement });
    return inOriginal(view, start, end, replacement);
  });
  return replaced(view, replacements);
}

const ACCOUNT_NUMBER =
  /(?<![\p{L}\p{N}])(konto(?:-?nummer|-?nr\.?)?|kto\.?\s?-?nr\.?|depot(?:-?nummer|-?nr\.?)|depotnr\.?)(\s*(?:ist|lautet|:|=|-|_)?\s*)(\d(?: ?\d){4,11})(?![\d*])/giu;
const AMOUNT_AFTER = /\s*(?:euro|eur|€)/iuy;

function maskAccountNumbers(view: DigitView, findings: MaskFinding[]): DigitView {
  const replacements: Replacement[] = [];
  for (const match of view.text.matchAll(ACCOUNT_NUMBER)) {
    const [whole, label = "", between = "", number = ""] = match;
    const digits = number.replace(/ /g, "");
    // A bare "Konto" needs a longer number: "Konto 15000 Euro im Minus" is an amount.
    if (/^konto$/iu.test(label) && digits.length < 6) continue;
    if (matchLengthAt(AMOUNT_AFTER, view.text, match.index + whole.length) >= 0) continue;
    const replacement = `****${digits.slice(-2)}`;
    findings.push({ kind: "account_number", replacement });
    const start = match.index + label.length + between.length;
    replacements.push(inOriginal(view, start, start + number.length, replacement));
  }
  return replaced(view, replacements);
}

/** What a KSC agent sees: `maskInbound` plus valid IBANs and account/depot numbers. */
export function maskForKsc(text: string): MaskResult {
  return untilStable(text, (view, findings) =>
    maskAccountNumbers(maskIbans(inboundPass(view, findings), findings), findings),
  );
}

/** True when the customer sent data that should not travel over WhatsApp (send the hint once). */
export function containsSensitiveData(text: string): boolean {
  return maskForKsc(text).findings.length > 0;
}
