import {
  type DataClass,
  dataClassLabel,
  type ForbiddenDataClass,
  isForbiddenDataClass,
} from "./data-classes";
import { maskInbound } from "./masking";
import { type FoldedText, foldWithMap, originalRange } from "./normalize";
import type { Rule } from "./schema";

/**
 * The check of an agent's draft before it is sent. It looks for *requests* for data
 * (a request verb, "bitte" next to the term, "Wie lautet …?", "PIN:"), not for any
 * mention, so "Wir senden Ihnen einen neuen PIN-Brief" and "Geben Sie niemals Ihre PIN
 * weiter" pass while "Nennen Sie mir bitte Ihre PIN" is refused.
 */
export type OutgoingActor = "ksc" | "bank";

export type OutgoingIssueCode =
  | "forbidden_data_request"
  | "data_class_not_allowed"
  | "free_text_not_allowed"
  | "snippet_not_allowed"
  | "bank_only_topic"
  | "contains_sensitive_data";

export interface OutgoingIssue {
  code: OutgoingIssueCode;
  /** German, shown to the agent */
  message: string;
  messageEn: string;
  dataClass?: DataClass | ForbiddenDataClass;
  /** the sentence of the draft that caused the issue */
  excerpt: string;
}

export interface OutgoingCheck {
  allowed: boolean;
  violations: OutgoingIssue[];
  warnings: OutgoingIssue[];
}

export interface OutgoingDraft {
  /** the text that would be sent (for a snippet: the rendered snippet) */
  text: string;
  snippetId?: string;
  /** the rule the conversation is classified under */
  rule: Rule;
  actor: OutgoingActor;
}

interface Detector {
  dataClass: DataClass | ForbiddenDataClass;
  regex: RegExp;
}

const CARD = "(?:kredit|debit|bank|giro|spar|ec-?|visa|master)?karte";

// Order matters: a more specific phrase claims its words first ("die letzten vier Ziffern
// Ihrer Kartennummer" is card_last4, not full_card_number; "E-Mail-Adresse" is email).
const DETECTORS: readonly Detector[] = [
  {
    dataClass: "card_last4",
    regex: new RegExp(
      `\\bletzten?\\s+(?:vier|4)\\s+(?:ziffern|stellen|zahlen)\\s+(?:ihrer|der|deiner)\\s+${CARD}\\w*`,
      "g",
    ),
  },
  {
    dataClass: "iban_last4",
    regex: /\bletzten?\s+(?:vier|4)\s+(?:ziffern|stellen|zeichen|zahlen)\s+(?:ihrer|der|deiner)\s+iban\b/g,
  },
  {
    dataClass: "cvc",
    regex: /\b(?:cvc2?|cvv2?|(?:karten)?pruef(?:ziffer|nummer|zahl|code)|sicherheitscode)\b/g,
  },
  {
    dataClass: "full_card_number",
    regex: new RegExp(
      `\\b(?:(?:kredit|debit|bank|giro|spar)?karten-?nummer\\w*|nummer\\s+(?:ihrer|der|deiner)\\s+${CARD}|(?:foto|bild|scan|kopie)\\s+(?:von\\s+)?(?:ihrer|der|deiner)\\s+${CARD}|vorder-?\\s*und\\s+rueckseite)`,
      "g",
    ),
  },
  {
    dataClass: "online_banking_credentials",
    regex:
      /\b(?:(?:online-?banking-?)?zugangsdaten|anmeldedaten|log-?in-?daten|benutzerdaten|legitimations-?id|anmeldename|benutzername)\b/g,
  },
  { dataClass: "password", regex: /\b(?:passwort\w*|passwords?|kennwort\w*)\b/g },
  {
    dataClass: "tan",
    regex: /\b(?:(?:push|sms|chip|mobile|photo|foto)-?)?tan(?:s|-?nummer|-?code)?\b|\btransaktionsnummer\b/g,
  },
  { dataClass: "pin", regex: /\b(?:pin(?:s|-?nummer|-?code)?(?!-?brief)|geheimzahl|geheimnummer)\b/g },
  { dataClass: "date_of_birth", regex: /\b(?:geburtsdatum|geburtstag|geboren|geb\.)/g },
  { dataClass: "email", regex: /\b(?:e-?mail(?:-?adresse)?|mail-?adresse)\b/g },
  { dataClass: "postcode", regex: /\b(?:postleitzahl|plz)\b/g },
  {
    dataClass: "address",
    regex:
      /\b(?:adresse|anschrift|wohnadresse|wohnanschrift|meldeadresse|strasse\s+und\s+hausnummer|wohnort)\b/g,
  },
  {
    dataClass: "phone",
    regex:
      /\b(?:telefonnummer|rufnummer|handynummer|mobilnummer|mobilfunknummer|rueckrufnummer|festnetznummer|nummer,?\s+unter\s+der)\b/g,
  },
  { dataClass: "customer_reference", regex: /\b(?:kundennummer|kundenreferenz|kunden-?nr)\b/g },
  { dataClass: "iban", regex: /\b(?:iban|kontonummer|bankverbindung|konto-?nr)\b/g },
  {
    dataClass: "name",
    regex:
      /\b(?:vor-?\s*und\s+(?:zu|nach)namen?|vollstaendigen\s+namen|nachnamen?|vornamen?|zunamen?|(?:ihren|deinen)\s+namen)\b/g,
  },
];

const REQUEST_VERBS =
  "nennen|schicken|senden|schreiben|sagen|geben|teilen|verraten|uebermitteln|bestaetigen|fotografieren|tippen|buchstabieren|durchgeben|angeben|mitteilen|zusenden|zuschicken|zukommen|uebersenden|schildern";
const REQUEST_CUES: readonly RegExp[] = [
  new RegExp(`\\b(?:${REQUEST_VERBS})\\s+sie\\b`),
  new RegExp(`\\bsie\\s+(?:mir|uns)\\b.*\\b(?:${REQUEST_VERBS}|lassen)\\b`),
  /\blaute[tn]\b/,
  /\b(?:ich|wir)\s+(?:\w+\s+)?(?:brauche|brauchen|braeuchte|braeuchten|benoetige|benoetigen|benoetigte|benoetigten)\b/,
  /\b(?:brauche|brauchen|braeuchte|braeuchten|benoetige|benoetigen|benoetigte|benoetigten)\s+(?:ich|wir)\b/,
];
const W_QUESTION = /^\s*(?:wie|was|welche\w*)\b/;
const BITTE_BEFORE =
  /\bbitte\s+(?:(?:noch|einmal|kurz|nochmal|nochmals|mal)\s+)*(?:(?:ihre?[nrms]?|deine?[nrms]?|die|das|den|der)\s+)?(?:\w+\s+)?$/;
const BITTE_AFTER = /^\w*\s*,?\s*bitte\b/;
const ONLY_TERM_BEFORE = /^\s*(?:(?:und|noch|nun|jetzt|ihre?[nrms]?|deine?[nrms]?|die|das|den|der)\s+)*$/;
const FORM_AFTER = /^\w*\s*[:?]/;

const NEGATIONS = new Set([
  "nie",
  "niemals",
  "nicht",
  "keinesfalls",
  "kein",
  "keine",
  "keinen",
  "keiner",
  "keinem",
  "keines",
  "nimmer",
  "nirgends",
  "weder",
  "geheim",
  "vertraulich",
]);
const NEGATION_WINDOW_WORDS = 6;

interface Span {
  start: number;
  end: number;
}

function sentenceAround(text: string, start: number, end: number): Span & { question: boolean } {
  let from = start;
  while (from > 0 && !/[.!?\n]/.test(text[from - 1] as string)) from--;
  let to = end;
  while (to < text.length && !/[.!?\n]/.test(text[to] as string)) to++;
  return { start: from, end: to, question: text[to] === "?" };
}

function clauseAround(text: string, sentence: Span, start: number, end: number): Span {
  let from = start;
  while (from > sentence.start && !/[,;:–]/.test(text[from - 1] as string)) from--;
  let to = end;
  while (to < sentence.end && !/[,;:–]/.test(text[to] as string)) to++;
  return { start: from, end: to };
}

function isNegated(text: string, clause: Span, start: number, end: number): boolean {
  const before = text
    .slice(clause.start, start)
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .slice(-NEGATION_WINDOW_WORDS);
  const after = text
    .slice(end, clause.end)
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .slice(0, NEGATION_WINDOW_WORDS);
  return before.some((word) => NEGATIONS.has(word)) || after.some((word) => NEGATIONS.has(word));
}

function isRequest(
  text: string,
  sentence: Span & { question: boolean },
  start: number,
  end: number,
): boolean {
  const sentenceText = text.slice(sentence.start, sentence.end);
  if (REQUEST_CUES.some((cue) => cue.test(sentenceText))) return true;
  if (sentence.question && W_QUESTION.test(sentenceText)) return true;
  const before = text.slice(sentence.start, start);
  const after = text.slice(end, sentence.end + 1);
  if (BITTE_BEFORE.test(before) || BITTE_AFTER.test(after)) return true;
  // "Ihre PIN?", "Geburtsdatum:" — the sentence is little more than the term.
  return ONLY_TERM_BEFORE.test(before) && FORM_AFTER.test(after);
}

export interface DataRequest {
  dataClass: DataClass | ForbiddenDataClass;
  forbidden: boolean;
  excerpt: string;
}

function excerptOf(folded: FoldedText, span: Span): string {
  const [from, to] = originalRange(folded, span.start, span.end);
  const sentence = folded.original.slice(from, to).trim();
  return sentence.length > 160 ? `${sentence.slice(0, 159)}…` : sentence;
}

// Between two terms of one enumeration: "PIN, TAN oder Ihr Passwort".
const ENUMERATION_GLUE =
  /^[\s,/]*(?:(?:und|oder|sowie|bzw|auch|ihre?[nrms]?|deine?[nrms]?|die|das|den|der)[\s,/]+)*$/;

interface TermMatch extends Span {
  dataClass: DataClass | ForbiddenDataClass;
}

/** Every request for customer data in a draft (forbidden or catalogue), negations excluded. */
export function findDataRequests(draft: string): DataRequest[] {
  const folded = foldWithMap(draft);
  const text = folded.text;
  const matches: TermMatch[] = [];
  for (const detector of DETECTORS) {
    for (const match of text.matchAll(detector.regex)) {
      const start = match.index ?? 0;
      const end = start + match[0].length;
      if (matches.some((span) => start < span.end && end > span.start)) continue;
      matches.push({ start, end, dataClass: detector.dataClass });
    }
  }
  matches.sort((a, b) => a.start - b.start);

  // A negation or a request covers a whole enumeration: "niemals Ihre PIN, TAN oder Ihr Passwort".
  const groups: TermMatch[][] = [];
  for (const match of matches) {
    const group = groups[groups.length - 1];
    const previous = group?.[group.length - 1];
    if (
      group !== undefined &&
      previous !== undefined &&
      ENUMERATION_GLUE.test(text.slice(previous.end, match.start))
    ) {
      group.push(match);
    } else {
      groups.push([match]);
    }
  }

  const requests: DataRequest[] = [];
  const reported = new Set<string>();
  for (const group of groups) {
    const first = group[0];
    const last = group[group.length - 1];
    if (first === undefined || last === undefined) continue;
    const sentence = sentenceAround(text, first.start, last.end);
    if (isNegated(text, clauseAround(text, sentence, first.start, last.end), first.start, last.end)) continue;
    const asked =
      isRequest(text, sentence, first.start, last.end) ||
      group.some((member) =>
        isRequest(text, sentenceAround(text, member.start, member.end), member.start, member.end),
      );
    if (!asked) continue;
    for (const member of group) {
      const key = `${member.dataClass}@${sentence.start}`;
      if (reported.has(key)) continue;
      reported.add(key);
      requests.push({
        dataClass: member.dataClass,
        forbidden: isForbiddenDataClass(member.dataClass),
        excerpt: excerptOf(folded, sentence),
      });
    }
  }
  return requests;
}

function draftExcerpt(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 160 ? `${trimmed.slice(0, 159)}…` : trimmed;
}

/** Checks an agent's draft against the conversation's rule and the fixed data-protection limits. */
export function checkOutgoing(draft: OutgoingDraft): OutgoingCheck {
  const { text, snippetId, rule, actor } = draft;
  const violations: OutgoingIssue[] = [];
  const warnings: OutgoingIssue[] = [];
  // Bank staff may discuss anything with their own customers: data issues only warn them.
  const dataIssues = actor === "ksc" ? violations : warnings;

  if (actor === "ksc") {
    if (rule.handling === "bank_only") {
      violations.push({
        code: "bank_only_topic",
        message: `Das Thema „${rule.topic}“ ist der Sparkasse vorbehalten. Bitte übergeben Sie den Chat an die Sparkasse.`,
        messageEn: `The topic "${rule.topic}" is reserved to the bank. Please hand the chat over to the bank.`,
        excerpt: draftExcerpt(text),
      });
    }
    if (snippetId === undefined) {
      if (!rule.freeTextAllowed) {
        violations.push({
          code: "free_text_not_allowed",
          message: `Beim Thema „${rule.topic}“ sind nur freigegebene Textbausteine erlaubt.`,
          messageEn: `Only approved snippets may be sent for the topic "${rule.topic}".`,
          excerpt: draftExcerpt(text),
        });
      }
    } else if (!rule.allowedSnippetIds.includes(snippetId)) {
      violations.push({
        code: "snippet_not_allowed",
        message: `Dieser Textbaustein ist für das Thema „${rule.topic}“ nicht freigegeben.`,
        messageEn: `This snippet is not approved for the topic "${rule.topic}".`,
        excerpt: draftExcerpt(text),
      });
    }
  }

  for (const request of findDataRequests(text)) {
    const { label, labelEn } = dataClassLabel(request.dataClass);
    if (request.forbidden) {
      dataIssues.push({
        code: "forbidden_data_request",
        message: `Nach ${label} darf über WhatsApp niemals gefragt werden.`,
        messageEn: `Never ask for the ${labelEn} over WhatsApp.`,
        dataClass: request.dataClass,
        excerpt: request.excerpt,
      });
    } else if (!(rule.allowedDataClasses as readonly string[]).includes(request.dataClass)) {
      dataIssues.push({
        code: "data_class_not_allowed",
        message: `Beim Thema „${rule.topic}“ darf nicht nach ${label} gefragt werden.`,
        messageEn: `The rule for "${rule.topic}" does not allow asking for the ${labelEn}.`,
        dataClass: request.dataClass,
        excerpt: request.excerpt,
      });
    }
  }

  if (maskInbound(text).findings.length > 0) {
    warnings.push({
      code: "contains_sensitive_data",
      message:
        "Die Nachricht enthält eine Kartennummer, PIN, TAN oder ein Passwort. Bitte entfernen Sie diese Angaben.",
      messageEn: "The message contains a card number, PIN, TAN or password. Please remove it.",
      excerpt: draftExcerpt(maskInbound(text).text),
    });
  }

  return { allowed: violations.length === 0, violations, warnings };
}
