export interface AdvisorCode {
  /** The advisor's personal code, with or without the leading "#", e.g. "B123" or "#B123". */
  code: string;
  userId: string;
}

/**
 * An advisor code in a message is "#" followed by a letter and 1–31 more letters, digits or
 * dashes ("#B123", "#mueller-k"), not glued to a preceding letter or digit. Matching is
 * case-insensitive. The advisor's click-to-chat link prefills e.g. "Hallo! #B123".
 */
export const ADVISOR_CODE_PATTERN = /(?<![\p{L}\p{N}])#([A-Za-z][A-Za-z0-9-]{1,31})(?![A-Za-z0-9-])/gu;

function normalizeCode(code: string): string {
  return code.trim().replace(/^#/, "").toUpperCase();
}

/** The first code in the text that belongs to a known advisor; unknown "#words" are ignored. */
export function findAdvisorCode(
  text: string | null | undefined,
  codes: readonly AdvisorCode[],
): AdvisorCode | null {
  if (!text || codes.length === 0) return null;
  const byCode = new Map(codes.map((entry) => [normalizeCode(entry.code), entry]));
  for (const match of text.matchAll(ADVISOR_CODE_PATTERN)) {
    const entry = byCode.get(normalizeCode(match[1] ?? ""));
    if (entry) return entry;
  }
  return null;
}
