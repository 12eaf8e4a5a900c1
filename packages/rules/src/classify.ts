import { rewriteLegacyPattern } from "./legacy-patterns";
import { type FoldedText, foldGerman, foldWithMap, isWordChar, originalRange } from "./normalize";
import {
  buildPatternSet,
  type EnginePattern,
  MAX_BOOK_PATTERN_COST,
  PATTERN_TEXT_CHARS,
  type PatternSet,
} from "./pattern-engine";
import {
  compileRulePattern,
  MAX_BOOK_PATTERNS,
  type Rule,
  type RuleBook,
  type RuleBookInput,
  storedRuleBookSchema,
} from "./schema";

/**
 * Keyword stems live in a trie walked from every word start, so the cost per message
 * grows with the message, not with the number of rules. A space or hyphen inside a
 * keyword is a "separator" edge: "online-banking" matches "Online-Banking",
 * "Online Banking" and "Onlinebanking".
 */
const SEPARATOR = " ";

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** keyword indexes ending here */
  terminals: number[] | undefined;
}

interface CompiledKeyword {
  readonly term: string;
  readonly ruleIndexes: number[];
}

interface CompiledPattern {
  readonly ruleIndex: number;
  readonly term: string;
  readonly engine: EnginePattern;
}

/** A stored pattern the engine cannot run: left out of matching, with the German reason. */
export interface SkippedPattern {
  ruleId: string;
  pattern: string;
  problem: string;
}

export interface CompiledRuleBook {
  readonly version: number;
  readonly rules: readonly Rule[];
  readonly defaultRule: Rule;
  readonly byId: ReadonlyMap<string, Rule>;
  readonly trie: TrieNode;
  readonly keywords: readonly CompiledKeyword[];
  readonly patterns: readonly CompiledPattern[];
  /** all patterns in one automaton (null: run each on its own) */
  readonly patternSet: PatternSet | null;
  /** patterns of a stored book that the engine refuses (saved before it changed); empty for a valid book */
  readonly skippedPatterns: readonly SkippedPattern[];
}

export interface MatchEvidence {
  kind: "keyword" | "pattern";
  /** the keyword or pattern source as the admin wrote it */
  term: string;
  /** the matched words from the customer's message */
  excerpt: string;
}

export interface Classification {
  ruleId: string;
  topic: string;
  /** rule-book version the decision used — store it with the decision */
  version: number;
  priority: number;
  matched: MatchEvidence[];
  /** orders candidates: priority first, then number of matches, then matched length; 0 for the default rule */
  score: number;
  isDefault: boolean;
  /** German sentence for agents and admins */
  explanation: string;
  /** the winning rule itself (guidance, action, handling); persist ruleId + version, not this */
  rule: Rule;
}

export interface MatchExplanation {
  version: number;
  winner: Classification;
  /** every rule that matched, best first; empty when the default rule applied */
  candidates: Array<{
    ruleId: string;
    topic: string;
    priority: number;
    score: number;
    matched: MatchEvidence[];
    won: boolean;
  }>;
}

/**
 * Classification reads at most this many characters of a message, and of its folded text (folding can
 * double a character: "ä" → "ae"). Longer texts (a forwarded document's text) are cut, not refused.
 * WhatsApp text is at most 4096 characters anyway. Keywords read all of it, patterns the first
 * PATTERN_TEXT_CHARS: with the pattern cost limits that bounds the time of a classification.
 */
export const MAX_CLASSIFIED_CHARS = 4096;

function normalizeKeyword(keyword: string): string {
  return foldGerman(keyword.trim())
    .replace(/[^\p{L}\p{N}]+/gu, SEPARATOR)
    .trim();
}

function newNode(): TrieNode {
  return { children: new Map(), terminals: undefined };
}

/**
 * Validates the book (throws a ZodError when invalid) and precomputes the matcher. A pattern the engine
 * cannot run does not fail the book: stored versions written before the engine changed must keep
 * classifying. Such patterns (and any beyond the book's pattern budget) are left out and listed in
 * `skippedPatterns`; saving a book refuses them (ruleBookSchema), so only old versions have any.
 */
export function compileRuleBook(input: RuleBook | RuleBookInput): CompiledRuleBook {
  const book = storedRuleBookSchema.parse(input);
  const trie = newNode();
  const keywords: CompiledKeyword[] = [];
  const keywordIndex = new Map<string, number>();
  const patterns: CompiledPattern[] = [];
  const skippedPatterns: SkippedPattern[] = [];
  let patternCost = 0;

  book.rules.forEach((rule, ruleIndex) => {
    for (const keyword of rule.keywords) {
      const normalized = normalizeKeyword(keyword);
      if (normalized === "") continue;
      let index = keywordIndex.get(normalized);
      if (index === undefined) {
        index = keywords.length;
        keywords.push({ term: keyword, ruleIndexes: [] });
        keywordIndex.set(normalized, index);
        let node = trie;
        for (const ch of normalized) {
          let child = node.children.get(ch);
          if (child === undefined) {
            child = newNode();
            node.children.set(ch, child);
          }
          node = child;
        }
        node.terminals = [...(node.terminals ?? []), index];
      }
      const entry = keywords[index];
      if (entry !== undefined && !entry.ruleIndexes.includes(ruleIndex)) entry.ruleIndexes.push(ruleIndex);
    }
    for (const written of rule.patterns) {
      const source = rewriteLegacyPattern(written);
      const compiled = compileRulePattern(source);
      if (!compiled.ok) {
        skippedPatterns.push({ ruleId: rule.id, pattern: written, problem: compiled.problem });
      } else if (
        patterns.length >= MAX_BOOK_PATTERNS ||
        patternCost + compiled.cost > MAX_BOOK_PATTERN_COST
      ) {
        skippedPatterns.push({
          ruleId: rule.id,
          pattern: written,
          problem: "Die Muster des Regelwerks sind zusammen zu aufwendig; dieses Muster wird nicht geprüft.",
        });
      } else {
        patternCost += compiled.cost;
        patterns.push({ ruleIndex, term: source, engine: compiled.pattern });
      }
    }
  });

  const defaultRule = book.rules.find((rule) => rule.isDefault === true);
  if (defaultRule === undefined) throw new Error("rule book without default rule"); // schema guarantees one
  return {
    version: book.version,
    rules: book.rules,
    defaultRule,
    byId: new Map(book.rules.map((rule) => [rule.id, rule])),
    trie,
    keywords,
    patterns,
    patternSet: buildPatternSet(patterns.map((pattern) => pattern.engine)),
    skippedPatterns,
  };
}

interface RuleHits {
  ruleIndex: number;
  evidence: MatchEvidence[];
  terms: Set<string>;
  matchedLength: number;
}

function wordEnd(text: string, from: number): number {
  let end = from;
  while (end < text.length && isWordChar(text.charCodeAt(end))) end++;
  return end;
}

function excerptOf(folded: FoldedText, start: number, end: number, extendToWordEnd: boolean): string {
  const [from, rawTo] = originalRange(folded, start, end);
  const to = extendToWordEnd ? wordEnd(folded.original, rawTo) : rawTo;
  const excerpt = folded.original.slice(from, to);
  return excerpt.length > 80 ? `${excerpt.slice(0, 79)}…` : excerpt;
}

function isSeparatorCode(code: number): boolean {
  return (
    code === 32 || code === 45 || code === 9 || code === 10 || code === 13 || code === 95 || code === 160
  );
}

/** The folded text classification works on: at most MAX_CLASSIFIED_CHARS characters, before and after folding. */
function foldForClassification(message: string): FoldedText {
  const folded = foldWithMap(
    message.length > MAX_CLASSIFIED_CHARS ? message.slice(0, MAX_CLASSIFIED_CHARS) : message,
  );
  if (folded.text.length <= MAX_CLASSIFIED_CHARS) return folded;
  return {
    text: folded.text.slice(0, MAX_CLASSIFIED_CHARS),
    // one entry per kept character plus the end: where the cut falls in the original
    originIndex: folded.originIndex.subarray(0, MAX_CLASSIFIED_CHARS + 1),
    original: folded.original,
  };
}

function collectHits(compiled: CompiledRuleBook, message: string): Map<number, RuleHits> {
  const folded = foldForClassification(message);
  const text = folded.text;
  const hits = new Map<number, RuleHits>();

  const record = (ruleIndex: number, evidence: MatchEvidence, length: number): void => {
    let entry = hits.get(ruleIndex);
    if (entry === undefined) {
      entry = { ruleIndex, evidence: [], terms: new Set(), matchedLength: 0 };
      hits.set(ruleIndex, entry);
    }
    const key = `${evidence.kind}:${evidence.term}`;
    if (entry.terms.has(key)) return; // the same keyword twice is still one reason
    entry.terms.add(key);
    entry.evidence.push(evidence);
    entry.matchedLength += length;
  };

  // Iterative walk; each stack frame is (node, position).
  const stackNodes: TrieNode[] = [];
  const stackPositions: number[] = [];
  for (let start = 0; start < text.length; start++) {
    if (!isWordChar(text.charCodeAt(start)) || (start > 0 && isWordChar(text.charCodeAt(start - 1))))
      continue;
    const first = compiled.trie.children.get(text[start] as string);
    if (first === undefined) continue;
    stackNodes.push(first);
    stackPositions.push(start + 1);
    while (stackNodes.length > 0) {
      const node = stackNodes.pop() as TrieNode;
      const position = stackPositions.pop() as number;
      if (node.terminals !== undefined) {
        for (const keywordIndex of node.terminals) {
          const keyword = compiled.keywords[keywordIndex];
          if (keyword === undefined) continue;
          const evidence: MatchEvidence = {
            kind: "keyword",
            term: keyword.term,
            excerpt: excerptOf(folded, start, position, true),
          };
          for (const ruleIndex of keyword.ruleIndexes) record(ruleIndex, evidence, position - start);
        }
      }
      if (position >= text.length) continue;
      const code = text.charCodeAt(position);
      const separatorChild = node.children.get(SEPARATOR);
      if (isSeparatorCode(code)) {
        if (separatorChild !== undefined) {
          let next = position;
          while (next < text.length && isSeparatorCode(text.charCodeAt(next))) next++;
          stackNodes.push(separatorChild);
          stackPositions.push(next);
        }
        continue;
      }
      const ch = text[position] as string;
      const child = node.children.get(ch);
      if (child !== undefined) {
        stackNodes.push(child);
        stackPositions.push(position + 1);
      }
      // "onlinebanking" written without the separator the keyword has
      const joined = separatorChild?.children.get(ch);
      if (joined !== undefined) {
        stackNodes.push(joined);
        stackPositions.push(position + 1);
      }
    }
  }

  // Patterns read a shorter prefix than keywords: it bounds the time of every accepted pattern.
  const patternText = text.length > PATTERN_TEXT_CHARS ? text.slice(0, PATTERN_TEXT_CHARS) : text;
  // One pass of the pattern set finds the patterns that match; only those are searched for their bounds.
  const matching = compiled.patternSet?.matching(patternText) ?? null;
  const candidates =
    matching === null
      ? compiled.patterns
      : matching.map((index) => compiled.patterns[index] as CompiledPattern);
  for (const pattern of candidates) {
    const match = pattern.engine.firstMatch(patternText);
    if (match === null) continue;
    const [start, end] = match;
    record(
      pattern.ruleIndex,
      { kind: "pattern", term: pattern.term, excerpt: excerptOf(folded, start, end, false) },
      end - start,
    );
  }
  return hits;
}

function scoreOf(rule: Rule, hits: RuleHits): number {
  return (
    rule.priority * 1_000_000 + Math.min(hits.evidence.length, 999) * 1000 + Math.min(hits.matchedLength, 999)
  );
}

interface RankedCandidate {
  rule: Rule;
  ruleIndex: number;
  hits: RuleHits;
  score: number;
}

function rank(compiled: CompiledRuleBook, message: string): RankedCandidate[] {
  const candidates: RankedCandidate[] = [];
  for (const hits of collectHits(compiled, message).values()) {
    const rule = compiled.rules[hits.ruleIndex];
    if (rule === undefined) continue;
    candidates.push({ rule, ruleIndex: hits.ruleIndex, hits, score: scoreOf(rule, hits) });
  }
  // Equal scores: the rule listed first in the book wins, so results are deterministic.
  candidates.sort((a, b) => b.score - a.score || a.ruleIndex - b.ruleIndex);
  return candidates;
}

function describeEvidence(evidence: readonly MatchEvidence[]): string {
  return evidence
    .map((entry) =>
      entry.kind === "keyword"
        ? `Stichwort „${entry.term}“ („${entry.excerpt}“)`
        : `Muster /${entry.term}/ („${entry.excerpt}“)`,
    )
    .join(", ");
}

function toClassification(
  compiled: CompiledRuleBook,
  candidates: readonly RankedCandidate[],
): Classification {
  const winner = candidates[0];
  if (winner === undefined) {
    const rule = compiled.defaultRule;
    return {
      ruleId: rule.id,
      topic: rule.topic,
      version: compiled.version,
      priority: rule.priority,
      matched: [],
      score: 0,
      isDefault: true,
      explanation: `Keine Regel hat gepasst; die Standardregel „${rule.topic}“ gilt.`,
      rule,
    };
  }
  const runnerUp = candidates[1];
  const beaten =
    runnerUp === undefined
      ? ""
      : ` Ebenfalls gepasst: ${candidates
          .slice(1)
          .map((candidate) => `„${candidate.rule.topic}“ (Priorität ${candidate.rule.priority})`)
          .join(", ")}.`;
  return {
    ruleId: winner.rule.id,
    topic: winner.rule.topic,
    version: compiled.version,
    priority: winner.rule.priority,
    matched: winner.hits.evidence,
    score: winner.score,
    isDefault: winner.rule.isDefault === true,
    explanation: `Regel „${winner.rule.topic}“ (Priorität ${winner.rule.priority}) erkannt an: ${describeEvidence(winner.hits.evidence)}.${beaten}`,
    rule: winner.rule,
  };
}

/** Picks the rule for an inbound customer message (pass the masked text). */
export function classify(compiled: CompiledRuleBook, text: string): Classification {
  return toClassification(compiled, rank(compiled, text));
}

/** For the admin's "check" endpoint: every rule that matched, why, and which won. */
export function explainMatch(compiled: CompiledRuleBook, text: string): MatchExplanation {
  const candidates = rank(compiled, text);
  const winner = toClassification(compiled, candidates);
  return {
    version: compiled.version,
    winner,
    candidates: candidates.map((candidate, index) => ({
      ruleId: candidate.rule.id,
      topic: candidate.rule.topic,
      priority: candidate.rule.priority,
      score: candidate.score,
      matched: candidate.hits.evidence,
      won: index === 0,
    })),
  };
}

export function findRule(compiled: CompiledRuleBook, ruleId: string): Rule | undefined {
  return compiled.byId.get(ruleId);
}
