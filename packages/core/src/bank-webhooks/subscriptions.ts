import type { Executor } from "../kernel/executor";
import type { Services } from "../services";

/** An enabled endpoint and the event types it receives, as the projection needs it. */
export interface Subscription {
  endpointId: string;
  events: ReadonlySet<string>;
}

/** How long a process trusts its copy of a bank's subscriptions (other processes' changes show after this). */
const TTL_MS = 5_000;

interface Entry {
  at: number;
  subscriptions: Subscription[];
}

const bySchema = new WeakMap<Services, Map<string, Entry>>();

function cacheOf(services: Services): Map<string, Entry> {
  let cache = bySchema.get(services);
  if (!cache) {
    cache = new Map();
    bySchema.set(services, cache);
  }
  return cache;
}

/**
 * The bank's enabled endpoints, cached per process for a few seconds: the projection runs in every
 * committing transaction of the ingest's hot path, and most banks have no endpoint at all (an empty list
 * is cached like any other). Read on the caller's executor (the committing transaction on a miss).
 */
export async function subscriptionsOf(
  services: Services,
  db: Executor,
  schema: string,
  now = Date.now(),
): Promise<Subscription[]> {
  const cache = cacheOf(services);
  const hit = cache.get(schema);
  if (hit && now - hit.at < TTL_MS) return hit.subscriptions;
  const rows = await db
    .withSchema(schema)
    .selectFrom("webhook_endpoints")
    .select(["id", "events"])
    .where("enabled", "=", true)
    .execute();
  const subscriptions = rows.map((r) => ({ endpointId: r.id, events: new Set(r.events) }));
  cache.set(schema, { at: now, subscriptions });
  return subscriptions;
}

/** Forgets a bank's subscriptions in this process (after its endpoints changed). */
export function forgetSubscriptions(services: Services, schema: string): void {
  cacheOf(services).delete(schema);
}
