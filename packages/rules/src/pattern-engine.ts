import RE2 from "re2";

/**
 * Rule patterns run on RE2 (the `re2` package: Google's RE2 as a native addon), which matches in time
 * linear in the text for every pattern it accepts: no backtracking, so no pattern a bank admin writes can
 * freeze the worker or the API on a crafted customer message (docs/adr/0014-linear-time-rule-patterns.md).
 *
 * The admin still writes JavaScript syntax (what the console and the docs show): a pattern must compile
 * as a JS RegExp with the `u` flag, and RE2 must be able to run it. What RE2 cannot run is refused with a
 * German reason at the field: lookarounds and backreferences (they need backtracking), and patterns whose
 * automaton is too big for the time bound (huge counted repetitions such as `.{0,1000}`).
 *
 * Semantics on the folded text (lower case, ä→ae, ö→oe, ü→ue, ß→ss): `\b`, `\w` and `\d` are ASCII in
 * RE2 as they are in JS without the `i` flag, and folding turns German umlauts and ß into ASCII, so
 * "\bueberweis" finds "Überweisung". Letters such as é stay non-ASCII in both engines (not word characters).
 * `\s` is translated to JS's Unicode set (RE2's `\s` is ASCII only), so a no-break space still separates.
 */

/** What one compiled pattern exposes to the classifier. */
export interface EnginePattern {
  /** the RE2 source (for a PatternSet) */
  readonly engineSource: string;
  /** first match in `text` as [start, end) in UTF-16 units, or null */
  firstMatch(text: string): [number, number] | null;
}

/**
 * All patterns of a book in one automaton: one pass over the text says which of them match, so only
 * those are run on their own for the match bounds. Each native call costs about as much as a short
 * search, and a book has up to MAX_BOOK_PATTERNS patterns.
 */
export interface PatternSet {
  /** indexes of the patterns that match somewhere in `text`, or null when the set gave up (see below) */
  matching(text: string): number[] | null;
}

export type PatternCompilation =
  | { ok: true; pattern: EnginePattern; cost: number }
  | { ok: false; problem: string };

/**
 * Upper bound of one pattern's cost (see patternCost). The time of one search is at most proportional to
 * cost × text length; with patterns reading at most PATTERN_TEXT_CHARS characters this keeps the worst
 * classification of a 4,096-character message far below 10 ms on a loaded 2-core machine
 * (packages/rules/test/redos.unit.test.ts). The default rule book's patterns cost 40 to 300.
 */
export const MAX_PATTERN_COST = 320;

/** Upper bound of the summed cost of all patterns in one rule book (each message runs through all of them). */
export const MAX_BOOK_PATTERN_COST = 20_000;

/**
 * Patterns read at most this many characters of the folded message (keywords read all of
 * MAX_CLASSIFIED_CHARS). A WhatsApp caption is at most 1,024 characters, and a customer names the topic
 * early; the shorter text is what keeps a crafted message cheap for every accepted pattern.
 */
export const PATTERN_TEXT_CHARS = 1024;

// JS's \s (ECMAScript WhiteSpace + LineTerminator); RE2's \s is [\t\n\f\r ] only.
const JS_SPACE_CLASS_BODY =
  "\\t\\n\\v\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";

const LOOKAROUND =
  "Vorausschau und Rückschau ((?=…), (?!…), (?<=…), (?<!…)) werden nicht unterstützt: Muster laufen auf einer Engine mit garantierter Laufzeit. Schreiben Sie die Ausnahme als Alternative aus, z. B. kredit(?:[a-jl-z]\\w*)? statt kredit(?!karte)\\w*.";
const BACKREFERENCE =
  "Rückverweise (\\1, \\k<name>) werden nicht unterstützt: Muster laufen auf einer Engine mit garantierter Laufzeit. Schreiben Sie den wiederholten Teil aus.";

/**
 * Finds the constructs RE2 refuses that deserve their own explanation. Works on the source as written
 * (escapes and character classes are skipped, so "[(?=]" or "\\(?=" are not lookaheads).
 */
function unsupportedConstruct(source: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") {
      const next = source[i + 1] ?? "";
      if (!inClass && (/[1-9]/.test(next) || (next === "k" && source[i + 2] === "<"))) return BACKREFERENCE;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      // "[]" or "[^]" : the "]" right after the opening is part of the class in RE2, not in JS; the JS
      // compile check refuses what JS cannot read, RE2 refuses the rest.
      continue;
    }
    if (ch === "(" && source[i + 1] === "?") {
      const kind = source.slice(i + 2, i + 4);
      if (kind.startsWith("=") || kind.startsWith("!") || kind === "<=" || kind === "<!") return LOOKAROUND;
    }
  }
  return undefined;
}

/**
 * The folded JS source as RE2 source: capturing groups become non-capturing (the classifier needs only the
 * whole match, and without groups RE2 finds its bounds with the DFA instead of the slower NFA), and `\s` /
 * `\S` get JS's Unicode meaning. Everything else RE2 reads as JS does (node-re2 translates \uXXXX and
 * \u{…}); call only for sources without lookarounds or backreferences.
 */
function toEngineSource(folded: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < folded.length; i++) {
    const ch = folded[i] as string;
    if (ch === "\\") {
      const next = folded[i + 1] ?? "";
      if (next === "s") out += inClass ? JS_SPACE_CLASS_BODY : `[${JS_SPACE_CLASS_BODY}]`;
      else if (next === "S" && !inClass) out += `[^${JS_SPACE_CLASS_BODY}]`;
      else out += ch + next;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      out += ch;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      out += ch;
      // a "]" or "^]" right after "[" would end the class in JS; keep it as written and let RE2 judge
      continue;
    }
    if (ch === "(") {
      if (folded[i + 1] !== "?") {
        out += "(?:";
        continue;
      }
      const named = /^\(\?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(folded.slice(i));
      if (named !== null) {
        out += "(?:";
        i += named[0].length - 1;
        continue;
      }
    }
    out += ch;
  }
  return out;
}

// Cost weights: a "wide" atom (".", a negated class, \W, \S, \D) compiles to several byte ranges in
// RE2's UTF-8 automaton and stays alive on almost every character, so it weighs more than a literal; a
// Unicode property (\p{L}) compiles to hundreds of ranges.
const WIDE = 4;
const NARROW = 1;
const PROPERTY = 16;

function classCost(body: string): number {
  if (/\\[pP]/.test(body)) return PROPERTY;
  if (body.startsWith("^")) return WIDE;
  if (/\\[WSD]/.test(body)) return WIDE;
  // non-ASCII members or ranges widen the UTF-8 automaton as well
  for (let i = 0; i < body.length; i++) if (body.charCodeAt(i) > 127) return WIDE;
  if (/\\x\{/.test(body) || /\\u/.test(body)) return WIDE;
  return NARROW;
}

/**
 * An estimate of the size of the automaton RE2 builds for an engine source: every atom counts (wide atoms
 * more), a group counts its contents, and a counted repetition {n,m} multiplies by its upper bound (RE2
 * copies the body that often), {n,} by n + 1. The time of one search is at most proportional to this
 * times the length of the text, so bounding it bounds the classification time.
 */
function patternCost(engineSource: string): number {
  const stack: number[] = [0];
  let lastAtom = 0;
  const add = (cost: number) => {
    stack[stack.length - 1] = (stack.at(-1) as number) + cost;
    lastAtom = cost;
  };
  for (let i = 0; i < engineSource.length; i++) {
    const ch = engineSource[i] as string;
    if (ch === "\\") {
      const next = engineSource[i + 1] ?? "";
      if ((next === "p" || next === "P") && engineSource[i + 2] === "{") {
        const close = engineSource.indexOf("}", i + 2);
        i = close === -1 ? engineSource.length : close;
        add(PROPERTY);
        continue;
      }
      if (next === "x" && engineSource[i + 2] === "{") {
        const close = engineSource.indexOf("}", i + 2);
        i = close === -1 ? engineSource.length : close;
        add(NARROW);
        continue;
      }
      if (next === "u" && engineSource[i + 2] === "{") {
        const close = engineSource.indexOf("}", i + 2);
        i = close === -1 ? engineSource.length : close;
        add(NARROW);
        continue;
      }
      if (next === "u") {
        i += 5;
        add(NARROW);
        continue;
      }
      i++;
      add(/[WSD]/.test(next) ? WIDE : /[pP]/.test(next) ? PROPERTY : NARROW);
      continue;
    }
    if (ch === "[") {
      let j = i + 1;
      if (engineSource[j] === "^") j++;
      if (engineSource[j] === "]") j++;
      while (j < engineSource.length && engineSource[j] !== "]") j += engineSource[j] === "\\" ? 2 : 1;
      add(classCost(engineSource.slice(i + 1, j)));
      i = j;
      continue;
    }
    if (ch === "(") {
      if (engineSource[i + 1] === "?") {
        const colon = engineSource.indexOf(":", i);
        if (colon !== -1 && /^\(\?[a-zA-Z-]*:$/.test(engineSource.slice(i, colon + 1))) i = colon;
      }
      stack.push(0);
      continue;
    }
    if (ch === ")") {
      const inner = stack.length > 1 ? (stack.pop() as number) : 0;
      add(inner + 1);
      continue;
    }
    if (ch === "|") {
      stack[stack.length - 1] = (stack.at(-1) as number) + 1;
      lastAtom = 0;
      continue;
    }
    if (ch === "*" || ch === "+" || ch === "?") {
      stack[stack.length - 1] = (stack.at(-1) as number) + 1;
      continue;
    }
    if (ch === "{") {
      const counted = /^\{(\d*)(,?)(\d*)\}/.exec(engineSource.slice(i));
      if (counted !== null) {
        const low = Number(counted[1] || "0");
        const high = counted[2] === "" ? low : counted[3] === "" ? low + 1 : Number(counted[3]);
        const copies = Math.max(1, high);
        stack[stack.length - 1] = (stack.at(-1) as number) + lastAtom * (copies - 1) + 1;
        lastAtom *= copies;
        i += counted[0].length - 1;
        continue;
      }
    }
    add(ch === "." ? WIDE : NARROW);
  }
  while (stack.length > 1) {
    const inner = stack.pop() as number;
    stack[stack.length - 1] = (stack.at(-1) as number) + inner;
  }
  return stack[0] as number;
}

class Re2Pattern implements EnginePattern {
  constructor(
    private readonly regex: RE2,
    readonly engineSource: string,
  ) {}

  firstMatch(text: string): [number, number] | null {
    const match = this.regex.exec(text);
    if (match === null) return null;
    return [match.index, match.index + (match[0] as string).length];
  }
}

/**
 * Compiles a folded pattern source (the output of foldPatternSource) for the engine, or says in German why
 * it cannot run: a lookaround or backreference, anything else RE2 rejects, or a cost over MAX_PATTERN_COST.
 */
export function compileForEngine(folded: string): PatternCompilation {
  const unsupported = unsupportedConstruct(folded);
  if (unsupported !== undefined) return { ok: false, problem: unsupported };
  const source = toEngineSource(folded);
  let regex: RE2;
  try {
    regex = new RE2(source, "u");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, problem: `Die Muster-Engine (RE2) kann diesen Ausdruck nicht ausführen: ${reason}.` };
  }
  const cost = patternCost(source);
  if (cost > MAX_PATTERN_COST) {
    return {
      ok: false,
      problem: `Das Muster ist zu aufwendig (Aufwand ${cost}, erlaubt sind ${MAX_PATTERN_COST}): große Wiederholungszahlen wie {0,300} oder ineinander geschachtelte Zählungen verkleinern, z. B. .{0,40} statt .{0,400}.`,
    };
  }
  return { ok: true, pattern: new Re2Pattern(regex, source), cost };
}

/**
 * Builds the set of a book's patterns, or null when there is nothing to gain (fewer than two patterns)
 * or RE2 cannot build it. The set runs RE2's DFA only: on a text that would make it exceed its memory
 * budget it throws, and `matching` returns null so the caller runs every pattern on its own (each bounded
 * by MAX_PATTERN_COST). After such a failure the set is not tried again for this book: a crafted message
 * must not pay for it twice.
 */
export function buildPatternSet(patterns: readonly EnginePattern[]): PatternSet | null {
  if (patterns.length < 2) return null;
  let set: InstanceType<typeof RE2.Set>;
  try {
    set = new RE2.Set(
      patterns.map((pattern) => pattern.engineSource),
      "u",
    );
  } catch {
    return null;
  }
  let failed = false;
  return {
    matching(text: string): number[] | null {
      if (failed) return null;
      try {
        return set.match(text).sort((a, b) => a - b);
      } catch {
        failed = true;
        return null;
      }
    },
  };
}
