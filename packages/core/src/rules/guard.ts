import {
  checkOutgoing,
  type MaskFinding,
  maskForKsc,
  maskInbound,
  type OutgoingActor,
  type OutgoingIssue,
} from "@kanal/rules";
import type { Viewer } from "../kernel/domain-events";
import { auditTenant } from "../kernel/audit";
import { AppError } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { compiledRuleBook, type DbExecutor } from "./rule-book";

/**
 * The one data-protection guard (ADR 0013). Every text that reaches storage — customer messages,
 * captions, filenames, agents' replies, template parameters, handover, callback and internal notes —
 * goes through `maskForStorage` first (card numbers and secrets never stored in clear), and every text
 * that reaches a person — REST views, event streams, exports — through `viewText` for that person (a
 * KSC agent also sees IBANs and account numbers masked). A new path that stores or shows text calls
 * these two; it never masks on its own.
 */
export function maskForStorage(text: string): { text: string; findings: MaskFinding[] } {
  return maskInbound(text);
}

/** maskForStorage for an optional text. */
export function maskedOrNull(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : maskInbound(text).text;
}

/** A stored text as `viewer` may see it. */
export function viewText<T extends string | null | undefined>(text: T, viewer: Viewer): T {
  if (text === null || text === undefined || viewer === "bank") return text;
  return maskForKsc(text).text as T;
}

/** Every string inside a JSON value (objects and arrays walked), passed through `mask`. */
function mapStrings<T>(value: T, mask: (text: string) => string): T {
  if (value === null || value === undefined) return value;
  if (typeof value === "string") return mask(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, mask)) as T;
  if (typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, mapStrings(v, mask)]),
    ) as T;
  }
  return value;
}

/** Every string inside a stored JSON value (a message's payload or media details) as `viewer` may see it. */
export function viewJson<T>(value: T, viewer: Viewer): T {
  return viewer === "bank" ? value : mapStrings(value, (text) => maskForKsc(text).text);
}

/** Every string inside a JSON value masked for storage (template parameters, webhook details). */
export function maskJsonForStorage<T>(value: T): T {
  return mapStrings(value, (text) => maskInbound(text).text);
}

/** The viewer of a tenant access: a contracted KSC's agent, or anybody of the bank. */
export function viewerOf(access: Pick<TenantAccess, "via">): Viewer {
  return access.via === "ksc" ? "ksc" : "bank";
}

interface AgentDraftInput {
  schema: string;
  conversationId: string;
  /** conversations.rule_id; null when the conversation was never classified (the default rule applies) */
  ruleId: string | null;
  /** the text that would be sent (for a snippet: the rendered snippet) */
  text: string;
  snippetId?: string | null;
  /** "ksc" for a contracted contact-centre agent, "bank" for the bank's own staff */
  actorKind: OutgoingActor;
  /** who drafts (for the audit row of a refusal) */
  ctx: RequestContext;
}

interface AgentDraftCheck {
  allowed: boolean;
  ruleId: string;
  topic: string;
  /** the rule-book version the check used (always the latest: a rule change applies at once) */
  ruleVersion: number;
  violations: OutgoingIssue[];
  /** bank staff see data-catalogue problems as warnings; everyone sees sensitive-data warnings */
  warnings: OutgoingIssue[];
}

/** How the send verb tells the check who drafts: only a contracted KSC's agents are bound by the rules. */
export function draftActorKind(access: Pick<TenantAccess, "via">): OutgoingActor {
  return access.via === "ksc" ? "ksc" : "bank";
}

/**
 * Checks an agent's draft against the conversation's rule in the CURRENT rule book (a rule the admin
 * tightened applies to the next message, not only to new conversations). A refused KSC draft is
 * audited (`message.refused`, with the masked excerpt and the reasons) in its own statement — the
 * caller's transaction is about to roll back — and thrown as 422 `rule_violation`. Bank staff get the
 * result with warnings and are never refused.
 */
export async function checkAgentDraft(db: DbExecutor, input: AgentDraftInput): Promise<AgentDraftCheck> {
  const book = await compiledRuleBook(db, input.schema);
  const rule = (input.ruleId !== null ? book.byId.get(input.ruleId) : undefined) ?? book.defaultRule;
  const outcome = checkOutgoing({
    text: input.text,
    ...(input.snippetId ? { snippetId: input.snippetId } : {}),
    rule,
    actor: input.actorKind,
  });
  const check: AgentDraftCheck = {
    allowed: outcome.allowed,
    ruleId: rule.id,
    topic: rule.topic,
    ruleVersion: book.version,
    violations: outcome.violations,
    warnings: outcome.warnings,
  };
  if (outcome.allowed) return check;

  const reasons = outcome.violations.map((violation) => ({
    code: violation.code,
    ...(violation.dataClass ? { dataClass: violation.dataClass } : {}),
    message: violation.message,
  }));
  await auditTenant(db, input.schema, input.ctx.actor, {
    action: "message.refused",
    targetType: "conversation",
    targetId: input.conversationId,
    ip: input.ctx.ip ?? null,
    requestId: input.ctx.requestId ?? null,
    details: {
      ruleId: rule.id,
      topic: rule.topic,
      ruleVersion: book.version,
      actorKind: input.actorKind,
      snippetId: input.snippetId ?? null,
      violations: reasons,
      // Evidence for compliance without storing anything the guard would mask.
      excerpt: maskInbound(input.text.slice(0, 300)).text,
    },
  });
  const first = outcome.violations[0];
  throw new AppError("rule_violation", first?.message ?? "Die Nachricht verstößt gegen das Regelwerk.", {
    ruleId: rule.id,
    topic: rule.topic,
    ruleVersion: book.version,
    violations: outcome.violations,
  });
}
