import Stripe from "stripe";
import type { AppConfig } from "@kanal/config";
import type { UsageKind } from "./tables";

/** Meter event names: the provider creates one Stripe meter per name and a metered price on each. */
export const METER_EVENT_NAMES: Record<UsageKind, string> = {
  in_house_conversation: "kanal_in_house_conversation",
  ksc_conversation: "kanal_ksc_conversation",
  template_message: "kanal_template_message",
};

/** Billing is on when a Stripe key is configured; without it usage is still counted, nothing is sent. */
export function billingEnabled(config: Pick<AppConfig, "STRIPE_SECRET_KEY">): boolean {
  return Boolean(config.STRIPE_SECRET_KEY);
}

const clients = new WeakMap<object, Stripe>();

/**
 * The Stripe client for this configuration (one per config object). `STRIPE_API_BASE_URL` points it at
 * a local fake (tests, development) through the client's host/port/protocol options.
 */
export function stripeClient(
  config: Pick<AppConfig, "STRIPE_SECRET_KEY" | "STRIPE_API_BASE_URL">,
): Stripe | null {
  const key = config.STRIPE_SECRET_KEY;
  if (!key) return null;
  const cached = clients.get(config);
  if (cached) return cached;
  let target: Stripe.StripeConfig = {};
  if (config.STRIPE_API_BASE_URL) {
    const url = new URL(config.STRIPE_API_BASE_URL);
    const protocol = url.protocol === "http:" ? "http" : "https";
    target = { host: url.hostname, port: url.port || (protocol === "http" ? 80 : 443), protocol };
  }
  // Retries belong to the BullMQ jobs (with backoff and our own idempotency keys); the client retries
  // once so a stale keep-alive socket does not cost a whole job attempt.
  const client = new Stripe(key, {
    ...target,
    maxNetworkRetries: 1,
    timeout: 20_000,
    appInfo: { name: "kanal" },
  });
  clients.set(config, client);
  return client;
}

/** A verifier needs no API key; constructEvent only uses the webhook secret. */
export function stripeWebhooks(): Stripe["webhooks"] {
  return new Stripe("sk_unused_for_signatures").webhooks;
}

export function isStripeError(error: unknown): error is Stripe.errors.StripeError {
  return error instanceof Stripe.errors.StripeError;
}
