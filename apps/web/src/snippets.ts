import type { Snippet } from "./api";

export type SnippetContext = { customerName: string; agentName: string; bankName: string };

/** Local preview only: the server fills the variables itself when sent as `{snippetId}`. */
export function fillSnippet(body: string, context: SnippetContext): string {
  const values: Record<string, string> = {
    "customer.name": context.customerName,
    "agent.name": context.agentName,
    "bank.name": context.bankName,
  };
  return body.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (match, name: string) => values[name] ?? match);
}

/** The `/query` the caret stands in, if any: a slash at the start or after whitespace. */
export function slashQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const match = /(^|\s)\/([^\s/]*)$/.exec(before);
  if (!match) return null;
  const query = match[2] ?? "";
  return { start: caret - query.length - 1, query };
}

/** Shortcut prefix matches first, then shortcut/title substring matches. */
export function searchSnippets(snippets: readonly Snippet[], query: string): Snippet[] {
  const q = query.trim().toLowerCase();
  if (!q) return [...snippets];
  const scored: { snippet: Snippet; score: number }[] = [];
  for (const snippet of snippets) {
    const shortcut = snippet.shortcut.toLowerCase().replace(/^\//, "");
    const title = snippet.title.toLowerCase();
    let score = -1;
    if (shortcut.startsWith(q)) score = 0;
    else if (shortcut.includes(q)) score = 1;
    else if (title.startsWith(q)) score = 2;
    else if (title.includes(q)) score = 3;
    if (score >= 0) scored.push({ snippet, score });
  }
  return scored.sort((a, b) => a.score - b.score).map((entry) => entry.snippet);
}
