import { createHmac } from "node:crypto";
import { randomHex } from "./random";

export type MessageStatus = "sent" | "delivered" | "read" | "failed" | "played";

export interface BusinessNumber {
  phoneNumberId: string;
  displayPhoneNumber: string;
  wabaId: string;
}

/** `sha256=<hex HMAC-SHA256(raw body, app secret)>`, the `X-Hub-Signature-256` header value. */
export function signatureHeader(rawBody: string, appSecret: string): string {
  return `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
}

function envelope(number: BusinessNumber, value: Record<string, unknown>): Record<string, unknown> {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: number.wabaId,
        changes: [
          {
            value: {
              messaging_product: "whatsapp",
              metadata: {
                display_phone_number: number.displayPhoneNumber,
                phone_number_id: number.phoneNumberId,
              },
              ...value,
            },
            field: "messages",
          },
        ],
      },
    ],
  };
}

export function unixSeconds(ms: number): string {
  return String(Math.floor(ms / 1000));
}

/** Wamids are base64 of a small binary record that starts with the customer's number (as Meta's do). */
export function newWamid(waId: string): string {
  const record = Buffer.concat([
    Buffer.from([0x1c, 0x18, waId.length & 0xff]),
    Buffer.from(waId, "latin1"),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, 0x12]),
    Buffer.from(randomHex(9).toUpperCase(), "latin1"),
    Buffer.from([0x00]),
  ]);
  return `wamid.${record.toString("base64")}`;
}

export interface PricingInfo {
  category: "service" | "utility" | "marketing" | "authentication";
  conversationId: string;
  conversationExpiresAtMs: number;
}

export interface StatusUpdate {
  wamid: string;
  status: MessageStatus;
  recipientId: string;
  atMs: number;
  pricing?: PricingInfo;
  bizOpaqueCallbackData?: string;
  errors?: Array<{ code: number; title: string; details: string }>;
}

/** Status webhook in the shape of fixtures/status-sent.json (and status-failed.json for `errors`). */
export function buildStatusPayload(number: BusinessNumber, update: StatusUpdate): Record<string, unknown> {
  return buildStatusesPayload(number, [update]);
}

/** Several statuses of one number in one webhook, as Meta sends them under load (`statuses` is a list). */
export function buildStatusesPayload(
  number: BusinessNumber,
  updates: readonly StatusUpdate[],
): Record<string, unknown> {
  return envelope(number, { statuses: updates.map(statusObject) });
}

function statusObject(update: StatusUpdate): Record<string, unknown> {
  const status: Record<string, unknown> = {
    id: update.wamid,
    status: update.status,
    timestamp: unixSeconds(update.atMs),
    recipient_id: update.recipientId,
  };
  // Meta attaches conversation and pricing to sent/delivered only, never to read.
  if (update.pricing && (update.status === "sent" || update.status === "delivered")) {
    const billable = update.pricing.category !== "service";
    status.conversation = {
      id: update.pricing.conversationId,
      ...(update.status === "sent"
        ? { expiration_timestamp: unixSeconds(update.pricing.conversationExpiresAtMs) }
        : {}),
      origin: { type: update.pricing.category },
    };
    status.pricing = {
      billable,
      pricing_model: "PMP",
      type: billable ? "regular" : "free_customer_service",
      category: update.pricing.category,
    };
  }
  if (update.bizOpaqueCallbackData !== undefined) {
    status.biz_opaque_callback_data = update.bizOpaqueCallbackData;
  }
  if (update.errors) {
    status.errors = update.errors.map((error) => ({
      code: error.code,
      title: error.title,
      message: error.title,
      error_data: { details: error.details },
      href: "/documentation/business-messaging/whatsapp/support/error-codes",
    }));
  }
  return status;
}

export function buildInboundPayload(
  number: BusinessNumber,
  customer: { waId: string; name: string },
  message: Record<string, unknown>,
): Record<string, unknown> {
  return envelope(number, {
    contacts: [{ profile: { name: customer.name }, wa_id: customer.waId }],
    messages: [message],
  });
}
