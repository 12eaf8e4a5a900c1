import { create as contentDisposition } from "content-disposition";
import type { Context, Hono } from "hono";
import type { StoredMedia } from "../media";
import { newMediaId, sha256Base64 } from "../media";
import type { MetaError } from "../meta-errors";
import {
  expiredTokenError,
  invalidParameterError,
  invalidTokenError,
  pairRateLimitError,
  serverError,
  throughputLimitError,
  timeoutError,
  unknownObjectError,
} from "../meta-errors";
import {
  businessProfileUpdateSchema,
  describeIssue,
  markReadSchema,
  sendMessageSchema,
} from "../send-schema";
import type { BusinessProfile, Fault, SentMessage, SimulatorState } from "../state";
import { templatePage } from "../templates";
import { newWamid } from "../webhooks";

/** Graph API version segment such as `v21.0`; any version is accepted. */
const VERSION = ":version{v[0-9]+(?:\\.[0-9]+)?}";
/** Media URLs expire after five minutes, as Meta's do. */
const MEDIA_URL_TTL_MS = 5 * 60 * 1000;

function sendMetaError(c: Context, error: MetaError): Response {
  return c.json(error.body, error.httpStatus);
}

function bearerToken(c: Context): string {
  return bearerOf(c.req.header("authorization"));
}

type Gate = { response: Response; fault?: undefined } | { response?: undefined; fault?: Fault };
type Checked = { error: MetaError; fault?: undefined } | { error?: undefined; fault?: Fault };

/** Latency, token check and injected faults, shared by every Cloud API route. */
async function gate(c: Context, state: SimulatorState, phoneNumberId: string | undefined): Promise<Gate> {
  const checked = await check(state, phoneNumberId, bearerToken(c));
  return checked.error ? { response: sendMetaError(c, checked.error) } : { fault: checked.fault };
}

function bearerOf(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)$/i.exec((header ?? "").trim());
  return match?.[1] ?? "";
}

async function check(
  state: SimulatorState,
  phoneNumberId: string | undefined,
  token: string,
): Promise<Checked> {
  if (state.config.latencyMs > 0) await state.sleep(state.config.latencyMs);
  const reject = (error: MetaError): Checked => {
    if (phoneNumberId !== undefined) state.recordRejection(phoneNumberId, error.body.error.code);
    return { error };
  };
  if (!state.tokenIsValid(phoneNumberId, token)) return reject(invalidTokenError());
  const fault = state.consumeFault(phoneNumberId);
  switch (fault?.kind) {
    case undefined:
      return {};
    case "5xx":
      return reject(serverError());
    case "token_expired":
      return reject(expiredTokenError(new Date(state.now())));
    case "rate_limit":
      return reject(throughputLimitError());
    case "pair_rate":
      return reject(pairRateLimitError());
    case "timeout":
      if (fault.acceptBeforeTimeout) return { fault };
      await state.sleep(state.config.faultTimeoutMs);
      return reject(timeoutError());
  }
}

async function readJson(c: Context): Promise<Record<string, unknown> | undefined> {
  try {
    const body: unknown = await c.req.json();
    return typeof body === "object" && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A Cloud API answer: HTTP status and JSON body. */
interface Answer {
  status: number;
  body: unknown;
}

const metaAnswer = (error: MetaError): Answer => ({ status: error.httpStatus, body: error.body });

/**
 * `POST /<version>/<phone_number_id>/messages`: a send or a read receipt, with every check Meta makes
 * (token, faults, body, throughput 130429, window 131047, pair rate 131056). Shared by the Hono route and
 * the lean HTTP path the simulator serves this endpoint on (see `app.ts`).
 */
export async function messagesEndpoint(
  state: SimulatorState,
  phoneNumberId: string,
  authorization: string | undefined,
  readBody: () => Promise<Record<string, unknown> | undefined>,
): Promise<Answer> {
  const token = bearerOf(authorization);
  const gated = await check(state, phoneNumberId, token);
  if (gated.error) return metaAnswer(gated.error);
  const body = await readBody();
  if (!body) {
    state.recordRejection(phoneNumberId, 100);
    return metaAnswer(invalidParameterError("Request body must be a JSON object"));
  }

  if (body.status === "read") {
    const parsed = markReadSchema.safeParse(body);
    if (!parsed.success) {
      state.recordRejection(phoneNumberId, 100);
      return metaAnswer(invalidParameterError(describeIssue(parsed.error)));
    }
    state.recordRead({
      phoneNumberId,
      messageId: parsed.data.message_id,
      token,
      at: new Date(state.now()).toISOString(),
    });
    return { status: 200, body: { success: true } };
  }

  // Meta treats a missing `type` as text.
  const parsed = sendMessageSchema.safeParse({ type: "text", ...body });
  if (!parsed.success) {
    state.recordRejection(phoneNumberId, 100);
    return metaAnswer(invalidParameterError(describeIssue(parsed.error)));
  }
  const request = parsed.data;
  const waId = request.to.replace(/\D/g, "");
  const refusal = state.admitSend(phoneNumberId, waId, request.type === "template");
  if (refusal) {
    state.recordRejection(phoneNumberId, refusal.body.error.code);
    return metaAnswer(refusal);
  }

  const acceptedAtMs = state.now();
  const message: SentMessage = {
    wamid: newWamid(waId),
    phoneNumberId,
    to: request.to,
    waId,
    type: request.type,
    body,
    token,
    acceptedAt: new Date(acceptedAtMs).toISOString(),
    acceptedAtMs,
    ...(request.biz_opaque_callback_data === undefined
      ? {}
      : { bizOpaqueCallbackData: request.biz_opaque_callback_data }),
    statuses: [],
  };
  state.recordSent(message);
  void state.runStatusChain(message);

  if (gated.fault) {
    // The send went through, but the caller never learns its wamid: the crash/timeout case
    // that biz_opaque_callback_data reconciliation exists for.
    await state.sleep(state.config.faultTimeoutMs);
    return metaAnswer(timeoutError());
  }
  return {
    status: 200,
    body: {
      messaging_product: "whatsapp",
      contacts: [{ input: request.to, wa_id: waId }],
      messages: [{ id: message.wamid }],
    },
  };
}

function profileView(profile: BusinessProfile, fields: string | undefined): Record<string, unknown> {
  const all: Record<string, unknown> = { ...profile, messaging_product: "whatsapp" };
  if (!fields) return all;
  const wanted = new Set(fields.split(",").map((field) => field.trim()));
  wanted.add("messaging_product");
  return Object.fromEntries(Object.entries(all).filter(([key]) => wanted.has(key)));
}

export function registerCloudApi(app: Hono, state: SimulatorState): void {
  app.post(`/${VERSION}/:phoneNumberId/messages`, async (c) => {
    const phoneNumberId = c.req.param("phoneNumberId");
    const answer = await messagesEndpoint(state, phoneNumberId, c.req.header("authorization"), () =>
      readJson(c),
    );
    return c.json(answer.body, answer.status as 200);
  });

  app.post(`/${VERSION}/:phoneNumberId/media`, async (c) => {
    const phoneNumberId = c.req.param("phoneNumberId");
    const gated = await gate(c, state, phoneNumberId);
    if (gated.response) return gated.response;
    const form = await c.req.parseBody().catch(() => undefined);
    const file = form?.file;
    if (!(file instanceof File)) {
      return sendMetaError(c, invalidParameterError("Param file must be a file upload"));
    }
    const bytes = Buffer.from(await file.arrayBuffer());
    const typeField = form?.type;
    const media: StoredMedia = {
      id: newMediaId(),
      phoneNumberId,
      mimeType:
        typeof typeField === "string" && typeField ? typeField : file.type || "application/octet-stream",
      bytes,
      sha256: sha256Base64(bytes),
      ...(file.name ? { filename: file.name } : {}),
    };
    state.media.set(media.id, media);
    return c.json({ id: media.id });
  });

  /** The WABA's message templates, paged as Meta pages them (`limit`, `after`). */
  app.get(`/${VERSION}/:wabaId/message_templates`, async (c) => {
    const gated = await gate(c, state, undefined);
    if (gated.response) return gated.response;
    const templates = state.templates.list(c.req.param("wabaId"));
    return c.json(
      templatePage(templates, { limit: c.req.query("limit"), after: c.req.query("after") }, c.req.url),
    );
  });

  app.get(`/${VERSION}/:phoneNumberId/whatsapp_business_profile`, async (c) => {
    const phoneNumberId = c.req.param("phoneNumberId");
    const gated = await gate(c, state, phoneNumberId);
    if (gated.response) return gated.response;
    return c.json({ data: [profileView(state.profile(phoneNumberId), c.req.query("fields"))] });
  });

  app.post(`/${VERSION}/:phoneNumberId/whatsapp_business_profile`, async (c) => {
    const phoneNumberId = c.req.param("phoneNumberId");
    const gated = await gate(c, state, phoneNumberId);
    if (gated.response) return gated.response;
    const parsed = businessProfileUpdateSchema.safeParse(await readJson(c));
    if (!parsed.success) return sendMetaError(c, invalidParameterError(describeIssue(parsed.error)));
    const { messaging_product: _product, profile_picture_handle: handle, ...fields } = parsed.data;
    const profile = state.profile(phoneNumberId);
    Object.assign(
      profile,
      Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
    );
    if (handle) profile.profile_picture_url = `${new URL(c.req.url).origin}/_sim/profile-pictures/${handle}`;
    return c.json({ success: true });
  });

  app.get(`/${VERSION}/:mediaId{[0-9]+}`, async (c) => {
    const mediaId = c.req.param("mediaId");
    const media = state.media.get(mediaId);
    const gated = await gate(c, state, media?.phoneNumberId);
    if (gated.response) return gated.response;
    if (!media) return sendMetaError(c, unknownObjectError(mediaId));
    const expiresAt = state.now() + MEDIA_URL_TTL_MS;
    return c.json({
      messaging_product: "whatsapp",
      url: `${new URL(c.req.url).origin}/_sim/media/${media.id}/download?expires=${expiresAt}`,
      mime_type: media.mimeType,
      sha256: media.sha256,
      file_size: media.bytes.length,
      id: media.id,
    });
  });

  app.delete(`/${VERSION}/:mediaId{[0-9]+}`, async (c) => {
    const mediaId = c.req.param("mediaId");
    const media = state.media.get(mediaId);
    const gated = await gate(c, state, media?.phoneNumberId);
    if (gated.response) return gated.response;
    if (!media) return sendMetaError(c, unknownObjectError(mediaId));
    state.media.delete(mediaId);
    return c.json({ success: true });
  });

  app.get("/_sim/media/:mediaId/download", (c) => {
    const media = state.media.get(c.req.param("mediaId"));
    if (!state.tokenIsValid(media?.phoneNumberId, bearerToken(c))) {
      return sendMetaError(c, invalidTokenError());
    }
    const expires = Number(c.req.query("expires"));
    if (!media || (Number.isFinite(expires) && expires < state.now())) {
      return c.json({ error: { message: "Media URL not found or expired", code: 404 } }, 404);
    }
    return c.body(new Uint8Array(media.bytes), 200, {
      "content-type": media.mimeType,
      "content-length": String(media.bytes.length),
      // RFC 6266/5987 as Meta sends it: any filename, umlauts and emoji included, fits the header.
      ...(media.filename ? { "content-disposition": contentDisposition(media.filename) } : {}),
    });
  });
}
