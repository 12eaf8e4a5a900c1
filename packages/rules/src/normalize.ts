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
