/**
 * The events a bank's systems can subscribe to with a webhook endpoint (`/v1/tenants/:tenant/webhook-endpoints`),
 * shared by the API (validation, OpenAPI), the core (which domain event becomes which) and the console.
 * Deliveries follow Standard Webhooks: `{type, timestamp, data}` signed over "id.timestamp.body".
 */
export const BANK_WEBHOOK_EVENTS = [
  "message.received",
  "message.status",
  "conversation.assigned",
  "conversation.closed",
  "notification.status",
  "notification.reply",
  "customer.opted_out",
  "customer.opted_in",
  "callback.requested",
] as const;

export type BankWebhookEvent = (typeof BANK_WEBHOOK_EVENTS)[number];
