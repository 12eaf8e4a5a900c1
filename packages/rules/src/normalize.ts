/**
 * German text folding shared by rule matching and the outgoing-message check:
 * lower case, ä→ae, ö→oe, ü→ue, ß→ss, so "Überweisung", "ueberweisung" and
 * "UEBERWEISUNG" look the same. The index map lets callers cut excerpts from the
 * original text instead of showing the folded form.
 */
export interface FoldedText {
  /** folded text */
  readonly text: string;
  /** for each folded character, the index of the original character it came from */
  readonly originIndex: Int32Array;
  readonly original: string;
}

const UMLAUT_FOLD: Record<string, string> = {
  ä: "ae",
  ö: "oe",
  ü: "ue",
  ß: "ss",
  ẞ: "ss",
  Ä: "ae",
  Ö: "oe",
  Ü: "ue",
};

const COMBINING_DIAERESIS = 0x308;

/** Fold one string without keeping the index map (keywords, snippets, short terms). */
export function foldGerman(value: string): string {
  return foldWithMap(value).text;
}

export function foldWithMap(original: string): FoldedText {
  // Worst case every character doubles (ä → ae).
  const originIndex = new Int32Array(original.length * 2 + 1);
  let out = "";
  let n = 0;
  for (let i = 0; i < original.length; i++) {
    const code = original.charCodeAt(i);
    if (code < 128) {
      // ASCII fast path: only A–Z need work.
      out += code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : original[i];
      originIndex[n++] = i;
      continue;
    }
    const ch = original[i] as string;
    const umlaut = UMLAUT_FOLD[ch];
    if (umlaut !== undefined) {
      out += umlaut;
      originIndex[n++] = i;
      originIndex[n++] = i;
      continue;
    }
    if (code === COMBINING_DIAERESIS) {
      // Decomposed umlaut ("u" + U+0308, as macOS keyboards send it) → "ue".
      const previous = out[out.length - 1];
      if (previous === "a" || previous === "o" || previous === "u") {
        out += "e";
        originIndex[n++] = i;
      }
      continue;
    }
    const lower = ch.toLowerCase();
    for (let k = 0; k < lower.length; k++) {
      out += lower[k];
      originIndex[n++] = i;
    }
  }
  originIndex[n] = original.length;
  return { text: out, originIndex: originIndex.subarray(0, n + 1), original };
}

/** Maps a folded range [start, end) back to the original text. */
export function originalRange(folded: FoldedText, start: number, end: number): [number, number] {
  const from = folded.originIndex[start] ?? folded.original.length;
  const to = end > start ? (folded.originIndex[end - 1] ?? folded.original.length - 1) + 1 : from;
  return [from, to];
}

/** Letters and digits count as word characters; everything else separates words. */
export function isWordChar(code: number): boolean {
  if (code < 128) {
    return (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || (code >= 65 && code <= 90);
  }
  return WORD_CHAR.test(String.fromCharCode(code));
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

/**
 * The masking's view of a text: every Unicode decimal digit (`\p{Nd}`: ASCII, fullwidth, Arabic-Indic, …)
 * as its ASCII digit, fullwidth ASCII (U+FF01–FF5E) as ASCII, every dash (`\p{Pd}`, U+2212) as "-", and a
 * run of separators between two digits as one space, so a number reads the same however its groups are
 * separated:
 *
 * - Spaces (any `\p{Zs}`, tab, zero-width space), dashes, dots, slashes and underscores, in any number and
 *   mix: "4111.1111", "4111\u00A0\u00A01111", "1 - 2", "4111_1111" (file names).
 * - With those, at most one line break (LF, CR, CR LF, VT, FF, NEL, U+2028, U+2029): a number written
 *   over two or four lines. Not a blank line: that ends a number.
 * - One group mark alone, with nothing around it: comma, plus, apostrophe (' ’ ‘ ʼ), a middle dot or
 *   bullet (· • ‧ ∙ ⋅ ・), the Arabic decimal and thousands separators, a single asterisk: "4111,1111",
 *   "1'234'567". With spaces around they separate items of a list ("4711, 4712"; "1200 + 300"), and a run
 *   of asterisks is a mask ("**** **** **** 1234"), so those stay as they are.
 * - Brackets around a group: ")" first and "(" last in a run ("(4111) 1111", "4111 (1111)").
 *
 * A line break, a group mark or a bracket joins only groups of three digits or more on both sides:
 * card numbers are written in groups of four (Amex 4-6-5), while dates, amounts and times on separate
 * lines or after a comma have groups of one or two ("12.05.2024\n13.05.2024", "12,50", "45,90\n13,20")
 * and must not melt into one long run where some 16 digits pass Luhn by chance.
 *
 * A run of spaces between two ASCII letters or digits is one space as well. Everything else keeps its
 * form ("PIN-Nummer", "Kto.-Nr.", "PIN:\n1234", "Rechnung_DE89…"). The map gives, for each view
 * character, the original range it came from, so callers detect on the view and replace the original.
 */
export interface DigitView {
  readonly text: string;
  /** for each view character, where its original characters start */
  readonly originStart: Int32Array;
  /** for each view character, where its original characters end (exclusive) */
  readonly originEnd: Int32Array;
  readonly original: string;
}

const DECIMAL_DIGIT = /\p{Nd}/u;
const SPACE_SEPARATOR = /[\p{Zs}\t\u200B\u2060\uFEFF]/u;
const DASH = /[\p{Pd}\u2212]/u;
const digitValues = new Map<number, number>();

/** The value of a Unicode decimal digit, or -1. */
function decimalDigitValue(codePoint: number): number {
  if (codePoint >= 48 && codePoint <= 57) return codePoint - 48;
  if (codePoint < 128) return -1;
  const known = digitValues.get(codePoint);
  if (known !== undefined) return known;
  if (!DECIMAL_DIGIT.test(String.fromCodePoint(codePoint))) return -1;
  // Unicode assigns decimal digits only in contiguous blocks of ten, 0 to 9 (blocks may follow each
  // other, as the mathematical digits do): the value is the distance from the run's start, modulo 10.
  let zero = codePoint;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  const value = (codePoint - zero) % 10;
  digitValues.set(codePoint, value);
  return value;
}

// Separator kinds (see `digitView`).
const NOT_SEPARATOR = 0;
/** any \p{Zs}, tab, zero-width space */
const SPACE = 1;
/** any dash, dot, slash, underscore */
const PUNCT = 2;
/** a line break (CR LF counts as one) */
const LINE = 3;
/** a group mark: only alone between two digits */
const MARK = 4;
/** "(": only last in a run */
const OPEN = 5;
/** ")": only first in a run */
const CLOSE = 6;

/** Separator kinds of ASCII characters (fullwidth forms fold to these). */
function asciiKind(code: number): number {
  switch (code) {
    case 32:
    case 9:
      return SPACE;
    case 45: // -
    case 46: // .
    case 47: // /
    case 95: // _
      return PUNCT;
    case 10:
    case 11:
    case 12:
    case 13:
      return LINE;
    case 39: // '
    case 42: // *
    case 43: // +
    case 44: // ,
      return MARK;
    case 40:
      return OPEN;
    case 41:
      return CLOSE;
    default:
      return NOT_SEPARATOR;
  }
}

const LINE_BREAKS = new Set([0x85, 0x2028, 0x2029]);
// ’ ‘ ʼ (what phones make of an apostrophe), middle dots and bullets, Arabic decimal/thousands separators.
const GROUP_MARKS = new Set([
  0x2019, 0x2018, 0x2bc, 0xb7, 0x2022, 0x2027, 0x2219, 0x22c5, 0x30fb, 0x66b, 0x66c,
]);

// Per BMP code unit, filled lazily: its code in the view and its separator kind (-1: not looked at yet).
const viewCode = new Uint16Array(0x10000);
const separatorKind = new Int8Array(0x10000).fill(-1);

function lookUp(code: number): void {
  let folded = code;
  let kind = NOT_SEPARATOR;
  if (code >= 0xd800 && code <= 0xdfff) {
    // Surrogates: handled as pairs by the caller.
  } else if (code >= 0xff01 && code <= 0xff5e) {
    // Fullwidth ASCII: its punctuation separates as well ("４１１１．１１１１").
    folded = code - 0xfee0;
    kind = asciiKind(folded);
  } else if (code < 128) {
    kind = asciiKind(code);
  } else {
    const digit = decimalDigitValue(code);
    const ch = String.fromCharCode(code);
    if (digit >= 0) folded = 48 + digit;
    else if (SPACE_SEPARATOR.test(ch)) kind = SPACE;
    else if (DASH.test(ch)) {
      folded = 45;
      kind = PUNCT;
    } else if (LINE_BREAKS.has(code)) kind = LINE;
    else if (GROUP_MARKS.has(code)) kind = MARK;
  }
  viewCode[code] = folded;
  separatorKind[code] = kind;
}

// The character at the position last classified: view code (-1: a surrogate pair kept as is), width in
// the original, separator kind. Module state rather than an object per character: this runs per character.
let currentCode = 0;
let currentWidth = 1;
let currentKind = NOT_SEPARATOR;

function classifyAt(original: string, i: number): void {
  const code = original.charCodeAt(i);
  if (code >= 0xd800 && code <= 0xdbff && i + 1 < original.length) {
    const codePoint = original.codePointAt(i) as number;
    if (codePoint > 0xffff) {
      const digit = decimalDigitValue(codePoint);
      currentCode = digit >= 0 ? 48 + digit : -1;
      currentWidth = 2;
      currentKind = NOT_SEPARATOR;
      return;
    }
  }
  if (separatorKind[code] === -1) lookUp(code);
  currentCode = viewCode[code] as number;
  currentWidth = 1;
  currentKind = separatorKind[code] as number;
}

const isAsciiDigit = (code: number) => code >= 48 && code <= 57;
const isAsciiAlnum = (code: number) =>
  isAsciiDigit(code) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

/** A group next to a line break, group mark or bracket needs this many digits to be joined. */
const MIN_GROUP_AT_WEAK_SEPARATOR = 3;

/** How many digits (up to `enough`) the original has from `from` on. */
function digitsAhead(original: string, from: number, enough: number): number {
  let count = 0;
  for (let k = from; count < enough && k < original.length; k += currentWidth) {
    classifyAt(original, k);
    if (currentKind !== NOT_SEPARATOR || !isAsciiDigit(currentCode)) break;
    count++;
  }
  return count;
}

/** How many digits (up to `enough`) the view ends with. */
function digitsBefore(units: Uint16Array, n: number, enough: number): number {
  let count = 0;
  while (count < enough && n - count > 0 && isAsciiDigit(units[n - count - 1] as number)) count++;
  return count;
}

export function digitView(original: string): DigitView {
  const length = original.length;
  const units = new Uint16Array(length);
  const originStart = new Int32Array(length + 1);
  const originEnd = new Int32Array(length + 1);
  let n = 0;
  const emitCurrent = (at: number) => {
    if (currentCode === -1) {
      // A character outside the BMP that is not a digit: both code units, as they are.
      units[n] = original.charCodeAt(at);
      units[n + 1] = original.charCodeAt(at + 1);
      originStart[n] = originStart[n + 1] = at;
      originEnd[n] = originEnd[n + 1] = at + 2;
      n += 2;
      return;
    }
    units[n] = currentCode;
    originStart[n] = at;
    originEnd[n] = at + currentWidth;
    n++;
  };
  let i = 0;
  while (i < length) {
    classifyAt(original, i);
    if (currentKind === NOT_SEPARATOR) {
      emitCurrent(i);
      i += currentWidth;
      continue;
    }
    // A run of separators [i, j): what it holds decides whether it joins the characters around it.
    let j = i;
    let onlySpaces = true;
    let lines = 0;
    let marks = 0;
    let opens = 0;
    let closes = 0;
    let openAt = -1;
    let closeAt = -1;
    while (j < length) {
      classifyAt(original, j);
      const kind = currentKind;
      if (kind === NOT_SEPARATOR) break;
      if (kind !== SPACE) onlySpaces = false;
      if (kind === LINE) {
        // CR LF is one line break.
        if (!(original.charCodeAt(j) === 10 && j > i && original.charCodeAt(j - 1) === 13)) lines++;
      } else if (kind === MARK) marks++;
      else if (kind === OPEN) {
        opens++;
        openAt = j;
      } else if (kind === CLOSE) {
        closes++;
        closeAt = j;
      }
      j += currentWidth;
    }
    const after = j < length ? currentCode : -1;
    const before = n > 0 ? (units[n - 1] as number) : -1;
    let join = false;
    if (isAsciiDigit(before) && isAsciiDigit(after)) {
      const weak = lines > 0 || marks > 0 || opens > 0 || closes > 0;
      if (!weak) {
        join = true;
      } else if (
        (marks === 1
          ? j - i === 1
          : marks === 0 &&
            lines <= 1 &&
            opens <= 1 &&
            closes <= 1 &&
            (closes === 0 || closeAt === i) &&
            (opens === 0 || openAt === j - 1)) &&
        digitsBefore(units, n, MIN_GROUP_AT_WEAK_SEPARATOR) >= MIN_GROUP_AT_WEAK_SEPARATOR &&
        digitsAhead(original, j, MIN_GROUP_AT_WEAK_SEPARATOR) >= MIN_GROUP_AT_WEAK_SEPARATOR
      ) {
        join = true;
      }
    } else if (onlySpaces && isAsciiAlnum(before) && isAsciiAlnum(after)) {
      join = true;
    }
    if (join) {
      units[n] = 32;
      originStart[n] = i;
      originEnd[n] = j;
      n++;
    } else {
      for (let k = i; k < j; k += currentWidth) {
        classifyAt(original, k);
        emitCurrent(k);
      }
    }
    i = j;
  }
  originStart[n] = length;
  originEnd[n] = length;
  let text = "";
  for (let from = 0; from < n; from += 8192) {
    text += String.fromCharCode(...units.subarray(from, Math.min(n, from + 8192)));
  }
  return {
    text,
    originStart: originStart.subarray(0, n + 1),
    originEnd: originEnd.subarray(0, n + 1),
    original,
  };
}

/** Maps a view range [start, end) back to the original text. */
export function viewToOriginal(view: DigitView, start: number, end: number): [number, number] {
  const from = view.originStart[start] ?? view.original.length;
  const to = end > start ? (view.originEnd[end - 1] ?? view.original.length) : from;
  return [from, to];
}
