/**
 * Patterns that earlier default rule books shipped and that the linear-time engine cannot run. Every bank
 * onboarded before the engine change has them stored in its rule book versions, so they are rewritten to
 * an equivalent the engine runs: when a stored book is compiled, and when a book that still holds them is
 * saved again (the admin did not write them and should not get an error for them).
 */

/**
 * "Kredit…" but not "Kreditkarte…": the old `\bkredit(?!karte)\w*` without the lookahead. Each branch
 * leaves the spelling of "karte" at one letter; reaching its end ("kreditkarte") leaves no branch, and
 * the final \b stops a partial spelling from matching inside a longer word.
 */
export const KREDIT_NOT_KARTE =
  "\\bkredit(?:[0-9_a-jl-z]\\w*|k(?:[0-9_b-z]\\w*|a(?:[0-9_a-qs-z]\\w*|r(?:[0-9_a-su-z]\\w*|t(?:[0-9_a-df-z]\\w*)?)?)?)?)?\\b";

const REWRITES: ReadonlyMap<string, string> = new Map([["\\bkredit(?!karte)\\w*", KREDIT_NOT_KARTE]]);

/** The pattern to run and store instead of a legacy default pattern; any other pattern unchanged. */
export function rewriteLegacyPattern(source: string): string {
  return REWRITES.get(source) ?? source;
}
