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
 * run of separators between two digits ("4111.1111", "4111\u00A0\u00A01111", "1 - 2") as one space. A run
 * of spaces (any `\p{Zs}`, tab, zero-width space) between two ASCII letters or digits is one space as well.
 * Separators between letters keep their form ("PIN-Nummer", "Kto.-Nr."), line breaks are never
 * separators. The map gives, for each view character, the original range it came from, so callers detect
 * on the view and replace the original.
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
export function decimalDigitValue(codePoint: number): number {
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

// Separator kinds: none, a space (any \p{Zs}, tab, zero-width), punctuation (any dash, dot, slash).
const NOT_SEPARATOR = 0;
const SPACE = 1;
const PUNCT = 2;

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
    kind = folded === 45 || folded === 46 || folded === 47 ? PUNCT : NOT_SEPARATOR;
  } else if (code === 32 || code === 9) {
    kind = SPACE;
  } else if (code === 45 || code === 46 || code === 47) {
    kind = PUNCT;
  } else if (code >= 128) {
    const digit = decimalDigitValue(code);
    const ch = String.fromCharCode(code);
    if (digit >= 0) folded = 48 + digit;
    else if (SPACE_SEPARATOR.test(ch)) kind = SPACE;
    else if (DASH.test(ch)) {
      folded = 45;
      kind = PUNCT;
    }
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
    // A run of separators: one space between two digits, or (spaces only) between two letters/digits.
    let j = i;
    let punct = false;
    while (j < length) {
      classifyAt(original, j);
      if (currentKind === NOT_SEPARATOR) break;
      if (currentKind === PUNCT) punct = true;
      j += currentWidth;
    }
    const after = j < length ? currentCode : -1;
    const before = n > 0 ? (units[n - 1] as number) : -1;
    if (
      (isAsciiDigit(before) && isAsciiDigit(after)) ||
      (!punct && isAsciiAlnum(before) && isAsciiAlnum(after))
    ) {
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
