import { z } from "zod";
import type { InboundMediaKind, StoredMedia } from "./media";
import { newMediaId, sampleMediaBody, sha256Base64 } from "./media";
import type { InboundMessage, SimulatorState, WebhookResult } from "./state";
import { buildInboundPayload, newWamid, unixSeconds } from "./webhooks";

export const inboundRequestSchema = z.object({
  phoneNumberId: z.string().min(1),
  from: z.string().regex(/^\+?[0-9]{6,20}$/, "must be a phone number in international format"),
  name: z.string().min(1).optional(),
  text: z.string().optional(),
  type: z
    .enum(["text", "image", "document", "audio", "video", "location", "interactive", "button", "unknown"])
    .default("text"),
  /** Wamid of the business message this one replies to (button replies always carry one). */
  contextId: z.string().min(1).optional(),
  displayPhoneNumber: z.string().min(1).optional(),
  /** interactive: button id (button_reply) or row id (list_reply); button: the quick-reply payload. */
  buttonId: z.string().min(1).optional(),
  interactiveType: z.enum(["button_reply", "list_reply"]).default("button_reply"),
  filename: z.string().min(1).optional(),
  location: z
    .object({
      latitude: z.number(),
      longitude: z.number(),
      name: z.string().optional(),
      address: z.string().optional(),
    })
    .optional(),
});

export type InboundRequest = z.input<typeof inboundRequestSchema>;

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "") || "button"
  );
}

function createMedia(
  state: SimulatorState,
  phoneNumberId: string,
  kind: InboundMediaKind,
  filename: string,
): StoredMedia {
  const { mimeType, bytes } = sampleMediaBody(kind, filename);
  const media: StoredMedia = {
    id: newMediaId(),
    phoneNumberId,
    mimeType,
    bytes,
    sha256: sha256Base64(bytes),
    ...(kind === "document" ? { filename } : {}),
  };
  state.media.set(media.id, media);
  return media;
}

/** The `messages[]` item in Meta's shape (fixtures inbound-text / -document / -button-reply). */
function buildMessage(
  state: SimulatorState,
  request: z.output<typeof inboundRequestSchema>,
  wamid: string,
  displayPhoneNumber: string,
  atMs: number,
): Record<string, unknown> {
  const text = request.text;
  const message: Record<string, unknown> = {
    ...(request.contextId ? { context: { from: displayPhoneNumber, id: request.contextId } } : {}),
    from: request.from.replace(/\D/g, ""),
    id: wamid,
    timestamp: unixSeconds(atMs),
    type: request.type,
  };
  switch (request.type) {
    case "text":
      message.text = { body: text ?? "Hallo" };
      break;
    case "image":
    case "audio":
    case "video":
    case "document": {
      const filename = request.filename ?? "dokument.pdf";
      const media = createMedia(state, request.phoneNumberId, request.type, filename);
      message[request.type] = {
        ...(text && request.type !== "audio" ? { caption: text } : {}),
        ...(request.type === "document" ? { filename } : {}),
        mime_type: media.mimeType,
        sha256: media.sha256,
        id: media.id,
        ...(request.type === "audio" ? { voice: true } : {}),
      };
      break;
    }
    case "location":
      message.location = request.location ?? {
        latitude: 48.137154,
        longitude: 11.576124,
        name: "Marienplatz",
        address: "Marienplatz 1, 80331 München",
      };
      break;
    case "interactive": {
      const title = text ?? "Ja";
      const reply = { id: request.buttonId ?? slug(title), title };
      message.interactive =
        request.interactiveType === "list_reply"
          ? { type: "list_reply", list_reply: reply }
          : { type: "button_reply", button_reply: reply };
      break;
    }
    case "button":
      message.button = { payload: request.buttonId ?? text ?? "Ja", text: text ?? "Ja" };
      break;
    case "unknown":
      message.errors = [
        {
          code: 131051,
          title: "Message type unknown",
          message: "Message type unknown",
          error_data: { details: "Message type is currently not supported." },
        },
      ];
      break;
  }
  return message;
}

/**
 * A customer writes to a business number: records it, opens the 24-hour window and sends
 * Kanal the signed webhook. `webhook.first` settles with Kanal's answer to the first attempt.
 */
export function receiveInbound(
  state: SimulatorState,
  request: z.output<typeof inboundRequestSchema>,
): { inbound: InboundMessage; webhook: WebhookResult } {
  state.registerNumber(request.phoneNumberId, request.displayPhoneNumber);
  const number = state.businessNumber(request.phoneNumberId);
  const waId = request.from.replace(/\D/g, "");
  const atMs = state.now();
  const wamid = newWamid(waId);
  const message = buildMessage(state, request, wamid, number.displayPhoneNumber, atMs);
  const name = request.name ?? "Erika Mustermann";
  state.openWindow(request.phoneNumberId, waId, atMs);
  const inbound: InboundMessage = {
    wamid,
    phoneNumberId: request.phoneNumberId,
    from: waId,
    name,
    type: request.type,
    message,
    receivedAt: new Date(atMs).toISOString(),
    receivedAtMs: atMs,
    webhookStatus: null,
  };
  state.recordInbound(inbound);
  const webhook = state.deliverWebhook(
    "inbound",
    request.phoneNumberId,
    buildInboundPayload(number, { waId, name }, message),
  );
  void webhook.done.then((status) => {
    inbound.webhookStatus = status;
  });
  return { inbound, webhook };
}
