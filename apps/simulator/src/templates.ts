import { z } from "zod";
import { randomHex } from "./random";

/**
 * Message templates per WhatsApp Business Account, as the Graph API lists them
 * (`GET /<version>/<waba-id>/message_templates`), and Meta's `message_template_status_update` webhook
 * for a status change (whatsapp/README.md, "Message templates").
 */

const TEMPLATE_STATUSES = ["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] as const;
type TemplateStatus = (typeof TEMPLATE_STATUSES)[number];

export interface SimTemplate {
  id: string;
  name: string;
  language: string;
  status: TemplateStatus;
  category: "MARKETING" | "UTILITY" | "AUTHENTICATION";
  parameter_format: "POSITIONAL" | "NAMED";
  components: Record<string, unknown>[];
  rejected_reason?: string;
}

/** Body of `POST /_sim/templates`: a template to seed (components, or body/header/footer/buttons) or a new status. */
export const templateSeedSchema = z.object({
  wabaId: z.string().min(1),
  name: z.string().regex(/^[a-z0-9_]{1,512}$/, "lower-case letters, digits and underscores"),
  language: z.string().min(2).default("de"),
  category: z.enum(["MARKETING", "UTILITY", "AUTHENTICATION"]).optional(),
  status: z.enum(TEMPLATE_STATUSES).optional(),
  /** Meta's reason with a status change (REJECTED: INVALID_FORMAT …; PAUSED: the quality reason). */
  reason: z.string().min(1).optional(),
  parameterFormat: z.enum(["POSITIONAL", "NAMED"]).optional(),
  components: z.array(z.record(z.string(), z.unknown())).optional(),
  header: z.string().optional(),
  body: z.string().optional(),
  footer: z.string().optional(),
  /** quick-reply buttons by their text */
  quickReplies: z.array(z.string().min(1).max(25)).max(10).optional(),
  /** `false`: change the catalogue without telling Kanal (a webhook Meta never sent) */
  notify: z.boolean().default(true),
});

export type TemplateSeed = z.input<typeof templateSeedSchema>;

function componentsOf(seed: Pick<TemplateSeed, "header" | "body" | "footer" | "quickReplies">) {
  const components: Record<string, unknown>[] = [];
  if (seed.header) components.push({ type: "HEADER", format: "TEXT", text: seed.header });
  const body = seed.body ?? "";
  const count = new Set([...body.matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => m[1])).size;
  components.push({
    type: "BODY",
    text: body,
    ...(count > 0 && {
      example: { body_text: [Array.from({ length: count }, (_, i) => `Beispiel ${i + 1}`)] },
    }),
  });
  if (seed.footer) components.push({ type: "FOOTER", text: seed.footer });
  if (seed.quickReplies?.length)
    components.push({
      type: "BUTTONS",
      buttons: seed.quickReplies.map((text) => ({ type: "QUICK_REPLY", text })),
    });
  return components;
}

export class TemplateCatalogue {
  private readonly byWaba = new Map<string, SimTemplate[]>();

  list(wabaId: string): SimTemplate[] {
    return this.byWaba.get(wabaId) ?? [];
  }

  /** Adds or changes a template; returns it and whether its status changed (or it is new). */
  upsert(input: TemplateSeed): { template: SimTemplate; statusChanged: boolean } {
    const seed = templateSeedSchema.parse(input);
    const list = this.byWaba.get(seed.wabaId) ?? [];
    this.byWaba.set(seed.wabaId, list);
    const existing = list.find((t) => t.name === seed.name && t.language === seed.language);
    const hasContent = seed.components || seed.body !== undefined;
    const status = seed.status ?? existing?.status ?? "APPROVED";
    const template: SimTemplate = existing ?? {
      id: String(BigInt(`0x${randomHex(6)}`)),
      name: seed.name,
      language: seed.language,
      status,
      category: seed.category ?? "UTILITY",
      parameter_format: seed.parameterFormat ?? "POSITIONAL",
      components: [],
    };
    const statusChanged = !existing || existing.status !== status;
    template.status = status;
    if (seed.category) template.category = seed.category;
    if (seed.parameterFormat) template.parameter_format = seed.parameterFormat;
    if (hasContent) template.components = seed.components ?? componentsOf(seed);
    if (status === "REJECTED") template.rejected_reason = seed.reason ?? "INVALID_FORMAT";
    else delete template.rejected_reason;
    if (!existing) list.push(template);
    return { template, statusChanged };
  }

  /** A template by name and language: in this WABA's catalogue first, else in any. */
  find(name: string, language: string, wabaId?: string): SimTemplate | undefined {
    const match = (t: SimTemplate) => t.name === name && t.language === language;
    return (
      (wabaId === undefined ? undefined : this.list(wabaId).find(match)) ??
      [...this.byWaba.values()].flat().find(match)
    );
  }

  clear(): void {
    this.byWaba.clear();
  }
}

/** One page of `GET /<version>/<waba-id>/message_templates`, in Meta's shape (cursor paging). */
export function templatePage(
  templates: readonly SimTemplate[],
  query: { limit?: string; after?: string },
  url: string,
): Record<string, unknown> {
  const limit = Math.min(Math.max(Number(query.limit) || 25, 1), 100);
  const start = query.after ? Number(Buffer.from(query.after, "base64url").toString("utf8")) || 0 : 0;
  const data = templates.slice(start, start + limit);
  const cursor = (n: number) => Buffer.from(String(n), "utf8").toString("base64url");
  const end = start + data.length;
  const next = new URL(url);
  next.searchParams.set("after", cursor(end));
  next.searchParams.set("limit", String(limit));
  return {
    data,
    paging: {
      cursors: { before: cursor(start), after: cursor(end) },
      ...(end < templates.length && { next: next.toString() }),
    },
  };
}

/** Meta's `message_template_status_update` webhook for one template of one WABA. */
export function templateStatusPayload(wabaId: string, template: SimTemplate, reason?: string) {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: wabaId,
        time: Math.floor(Date.now() / 1000),
        changes: [
          {
            value: {
              event: template.status,
              message_template_id: Number(template.id),
              message_template_name: template.name,
              message_template_language: template.language,
              reason: reason ?? template.rejected_reason ?? "NONE",
            },
            field: "message_template_status_update",
          },
        ],
      },
    ],
  };
}

/** The filled-in text and quick replies of a template send, for the customer-phone page. */
export function renderTemplateSend(
  template: SimTemplate,
  components: readonly Record<string, unknown>[],
): { text: string; buttons: { text: string; payload: string }[] } {
  const sent = (type: string) =>
    (components.find((c) => c.type === type)?.parameters as
      | { text?: string; parameter_name?: string }[]
      | undefined) ?? [];
  const fill = (text: string, params: { text?: string; parameter_name?: string }[]) =>
    text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name: string) => {
      const named = params.find((p) => p.parameter_name === name);
      return named?.text ?? params[Number(name) - 1]?.text ?? whole;
    });
  const parts: string[] = [];
  let buttons: { text: string; payload: string }[] = [];
  for (const c of template.components) {
    const type = String(c.type ?? "").toUpperCase();
    if (type === "HEADER" && typeof c.text === "string") parts.push(fill(c.text, sent("header")));
    if (type === "BODY" && typeof c.text === "string") parts.push(fill(c.text, sent("body")));
    if (type === "FOOTER" && typeof c.text === "string") parts.push(c.text);
    if (type === "BUTTONS") {
      buttons = ((c.buttons as { type?: string; text?: string }[]) ?? []).flatMap((b, index) => {
        if (b.type !== "QUICK_REPLY") return [];
        const param = components.find((x) => x.type === "button" && String(x.index) === String(index))
          ?.parameters as { payload?: string }[] | undefined;
        // Without a payload of the sender's, Meta returns the button's text as the payload.
        return [{ text: b.text ?? "", payload: param?.[0]?.payload ?? b.text ?? "" }];
      });
    }
  }
  return { text: parts.join("\n\n"), buttons };
}

/** The demo banks' templates (scripts/demo.ts): notifications of a savings bank, and one of each other status. */
export function demoTemplates(wabaId: string): TemplateSeed[] {
  const footer = "Ihre Sparkasse";
  return [
    {
      wabaId,
      name: "kartenumsatz",
      category: "UTILITY",
      body: "Kreditkartenwecker: Ihre Karte {{1}} wurde am {{2}} für {{3}} bei {{4}} eingesetzt. Waren Sie das?",
      footer,
      quickReplies: ["Das war ich", "Das war ich nicht"],
    },
    {
      wabaId,
      name: "gehaltseingang",
      category: "UTILITY",
      body: "Guten Tag {{1}}, auf Ihrem Konto {{2}} ist eine Gutschrift über {{3}} eingegangen.",
      footer,
    },
    {
      wabaId,
      name: "konto_im_minus",
      category: "UTILITY",
      body: "Guten Tag {{1}}, Ihr Konto {{2}} weist einen Sollsaldo von {{3}} auf. Bei Fragen antworten Sie einfach auf diese Nachricht.",
      footer,
    },
    {
      wabaId,
      name: "termin_erinnerung",
      category: "UTILITY",
      body: "Wir erinnern Sie an Ihren Beratungstermin am {{1}} um {{2}} Uhr in der Filiale {{3}}.",
      footer,
    },
    {
      wabaId,
      name: "rueckmeldung",
      category: "UTILITY",
      body: "Guten Tag {{1}}, wir haben eine Antwort auf Ihre Anfrage. Antworten Sie auf diese Nachricht, um den Chat fortzusetzen.",
      footer,
    },
    {
      wabaId,
      name: "bausparen_aktion",
      category: "MARKETING",
      body: "Jetzt {{1}} sichern: Bausparen mit Zinsbonus bis {{2}}.",
      footer,
      status: "PAUSED",
      reason: "LOW_QUALITY",
    },
    {
      wabaId,
      name: "depot_angebot",
      category: "MARKETING",
      body: "Ihr Depot-Angebot: {{1}}",
      status: "REJECTED",
      reason: "INCORRECT_CATEGORY",
    },
  ];
}
