import type { Context, Hono } from "hono";
import { z } from "zod";
import { inboundRequestSchema, receiveInbound } from "../inbound";
import { applyConfigPatch, configPatchSchema } from "../options";
import type { SimulatorState } from "../state";
import { renderTemplateSend, templateSeedSchema, templateStatusPayload } from "../templates";
import type { MessageStatus } from "../webhooks";
import { buildStatusPayload } from "../webhooks";

const windowSchema = z.object({
  phoneNumberId: z.string().min(1),
  waId: z.string().min(1),
  /** When the customer's last message was, on the simulator clock; default now. */
  lastInboundAtMs: z.number().int().optional(),
});

const clockSchema = z.object({ offsetMs: z.number().int() });

const faultSchema = z.object({
  phoneNumberId: z.string().min(1).optional(),
  kind: z.enum(["5xx", "timeout", "token_expired", "rate_limit", "pair_rate"]),
  count: z.number().int().positive().optional(),
  acceptBeforeTimeout: z.boolean().default(false),
});

const statusSchema = z.object({
  wamid: z.string().min(1),
  status: z.enum(["sent", "delivered", "read", "failed", "played"]),
  error: z.object({ code: z.number().int(), title: z.string().min(1), details: z.string().min(1) }).default({
    code: 131049,
    title: "This message was not delivered to maintain healthy ecosystem engagement.",
    details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
  }),
});

async function parseBody<T extends z.ZodType>(
  c: Context,
  schema: T,
): Promise<{ ok: true; data: z.output<T> } | { ok: false; response: Response }> {
  const raw: unknown = await c.req.json().catch(() => undefined);
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, data: parsed.data };
  return {
    ok: false,
    response: c.json({ error: "invalid_request", issues: z.treeifyError(parsed.error) }, 400),
  };
}

export function registerTestSide(app: Hono, state: SimulatorState): void {
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.post("/_sim/inbound", async (c) => {
    const body = await parseBody(c, inboundRequestSchema);
    if (!body.ok) return body.response;
    const { inbound, webhook } = receiveInbound(state, body.data);
    const webhookStatus = await webhook.first;
    return c.json({ wamid: inbound.wamid, webhookStatus, mediaId: mediaIdOf(inbound.message) });
  });

  app.get("/_sim/inbound", (c) => {
    const from = c.req.query("from");
    const phoneNumberId = c.req.query("phoneNumberId");
    const messages = state.inbound.filter(
      (message) =>
        (!from || message.from === from.replace(/\D/g, "")) &&
        (!phoneNumberId || message.phoneNumberId === phoneNumberId),
    );
    return c.json({ messages });
  });

  app.get("/_sim/sent", (c) => {
    const to = c.req.query("to");
    const phoneNumberId = c.req.query("phoneNumberId");
    const messages = state.sent.filter(
      (message) =>
        (!to || message.to === to || message.waId === to.replace(/\D/g, "")) &&
        (!phoneNumberId || message.phoneNumberId === phoneNumberId),
    );
    return c.json({ messages });
  });

  app.get("/_sim/reads", (c) => {
    const phoneNumberId = c.req.query("phoneNumberId");
    return c.json({
      reads: state.reads.filter((read) => !phoneNumberId || read.phoneNumberId === phoneNumberId),
    });
  });

  app.get("/_sim/webhooks", (c) => {
    const kind = c.req.query("kind");
    return c.json({ deliveries: state.deliveries.filter((delivery) => !kind || delivery.kind === kind) });
  });

  /** Inbound and outbound of one chat, oldest first, for the customer-phone page. */
  app.get("/_sim/conversation", (c) => {
    const phoneNumberId = c.req.query("phoneNumberId") ?? "";
    const waId = (c.req.query("waId") ?? "").replace(/\D/g, "");
    const inbound = state.inbound
      .filter((message) => message.phoneNumberId === phoneNumberId && message.from === waId)
      .map((message) => ({ direction: "in" as const, atMs: message.receivedAtMs, ...message }));
    const outbound = state.sent
      .filter((message) => message.phoneNumberId === phoneNumberId && message.waId === waId)
      .map((message) => ({
        direction: "out" as const,
        atMs: message.acceptedAtMs,
        ...message,
        ...(message.type === "template" && { rendered: renderedTemplate(state, message.body) }),
      }));
    const items = [...inbound, ...outbound].sort((a, b) => a.atMs - b.atMs);
    return c.json({ items });
  });

  app.get("/_sim/numbers", (c) => c.json({ numbers: state.knownNumbers() }));

  app.get("/_sim/stats", (c) =>
    c.json({ numbers: state.allStats(), duplicateBizOpaqueCallbackData: state.duplicateBizOpaque() }),
  );

  app.post("/_sim/window", async (c) => {
    const body = await parseBody(c, windowSchema);
    if (!body.ok) return body.response;
    const waId = body.data.waId.replace(/\D/g, "");
    state.openWindow(body.data.phoneNumberId, waId, body.data.lastInboundAtMs);
    return c.json({ open: state.isWindowOpen(body.data.phoneNumberId, waId) });
  });

  app.get("/_sim/clock", (c) =>
    c.json({ offsetMs: state.clockOffsetMs, now: new Date(state.now()).toISOString() }),
  );

  app.post("/_sim/clock", async (c) => {
    const body = await parseBody(c, clockSchema);
    if (!body.ok) return body.response;
    state.clockOffsetMs = body.data.offsetMs;
    return c.json({ offsetMs: state.clockOffsetMs, now: new Date(state.now()).toISOString() });
  });

  app.get("/_sim/faults", (c) => c.json({ faults: state.faults }));

  app.post("/_sim/faults", async (c) => {
    const body = await parseBody(c, faultSchema);
    if (!body.ok) return body.response;
    const fault = state.addFault({
      kind: body.data.kind,
      remaining: body.data.count ?? null,
      acceptBeforeTimeout: body.data.acceptBeforeTimeout,
      ...(body.data.phoneNumberId === undefined ? {} : { phoneNumberId: body.data.phoneNumberId }),
    });
    return c.json({ fault }, 201);
  });

  app.delete("/_sim/faults", (c) => {
    state.faults = [];
    return c.json({ faults: [] });
  });

  app.get("/_sim/config", (c) => c.json({ config: redacted(state) }));

  app.post("/_sim/config", async (c) => {
    const body = await parseBody(c, configPatchSchema);
    if (!body.ok) return body.response;
    applyConfigPatch(state.config, body.data);
    return c.json({ config: redacted(state) });
  });

  /** Sends one extra status webhook for an accepted message, e.g. `failed` with error 131049. */
  app.post("/_sim/status", async (c) => {
    const body = await parseBody(c, statusSchema);
    if (!body.ok) return body.response;
    const message = state.sent.find((candidate) => candidate.wamid === body.data.wamid);
    if (!message) return c.json({ error: "unknown_wamid" }, 404);
    const status: MessageStatus = body.data.status;
    const atMs = state.now();
    const payload = buildStatusPayload(state.businessNumber(message.phoneNumberId), {
      wamid: message.wamid,
      status,
      recipientId: message.waId,
      atMs,
      ...(status === "failed" ? { errors: [body.data.error] } : { pricing: state.pricingFor(message) }),
      ...(message.bizOpaqueCallbackData === undefined
        ? {}
        : { bizOpaqueCallbackData: message.bizOpaqueCallbackData }),
    });
    const webhookStatus = await state.deliverWebhook("status", message.phoneNumberId, payload).first;
    message.statuses.push({ status, at: new Date(atMs).toISOString(), webhookStatus });
    return c.json({ webhookStatus });
  });

  app.get("/_sim/templates", (c) => c.json({ templates: state.templates.list(c.req.query("wabaId") ?? "") }));

  /**
   * Seeds a template or changes its status; a new template or a status change sends Meta's signed
   * `message_template_status_update` webhook (unless `notify: false`), whose delivery status is returned.
   */
  app.post("/_sim/templates", async (c) => {
    const body = await parseBody(c, templateSeedSchema);
    if (!body.ok) return body.response;
    const { template, statusChanged } = state.templates.upsert(body.data);
    let webhookStatus: number | null = null;
    if (statusChanged && body.data.notify) {
      const payload = templateStatusPayload(body.data.wabaId, template, body.data.reason);
      webhookStatus = await state.deliverWebhook("template", body.data.wabaId, payload).first;
    }
    return c.json({ template, webhookStatus }, 201);
  });

  app.post("/_sim/reset", (c) => {
    state.reset();
    return c.json({ ok: true });
  });
}

/** A template send as the customer sees it (text and quick replies), when the catalogue knows the template. */
function renderedTemplate(state: SimulatorState, body: Record<string, unknown>) {
  const t = body.template as
    | { name?: string; language?: { code?: string }; components?: Record<string, unknown>[] }
    | undefined;
  const known = t?.name ? state.templates.find(t.name, t.language?.code ?? "") : undefined;
  return known ? renderTemplateSend(known, t?.components ?? []) : undefined;
}

/** The config without secrets, so logs of test runs never carry them. */
function redacted(state: SimulatorState): Record<string, unknown> {
  const numbers = Object.fromEntries(
    Object.entries(state.config.numbers).map(([id, { accessToken, ...settings }]) => [
      id,
      { ...settings, ...(accessToken === undefined ? {} : { accessToken: "[set]" }) },
    ]),
  );
  return { ...state.config, appSecret: "[set]", numbers };
}

function mediaIdOf(message: Record<string, unknown>): string | undefined {
  const type = message.type;
  if (typeof type !== "string") return undefined;
  const content = message[type];
  if (typeof content !== "object" || content === null || !("id" in content)) return undefined;
  return typeof content.id === "string" ? content.id : undefined;
}
