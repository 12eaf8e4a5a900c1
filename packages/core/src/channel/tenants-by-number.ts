import { LRUCache } from "lru-cache";
import type { Db, Tenant } from "@kanal/db";
import { decryptSecret } from "../kernel/crypto";

export interface NumberBinding {
  tenant: Tenant;
  phoneNumberId: string;
  displayPhoneNumber: string;
  throughputPerSecond: number;
  pausedReason: string | null;
  accessTokenEnc: string;
}

const TTL_MS = 15_000;
/**
 * Far more than the numbers of every bank, so every live number stays cached; the bound only stops
 * lookups of ever new ids (unknown numbers are cached too, as misses) from growing the process.
 */
const MAX_CACHED = 5_000;
/** A cached miss: an unknown number is asked of Postgres once per TTL, not once per webhook. */
const NO_BINDING = { binding: null } as const;
const cache = new LRUCache<string, { binding: NumberBinding | null }>({ max: MAX_CACHED, ttl: TTL_MS });

/** phone_number_id → bank, cached briefly: every webhook and every send needs it. */
export async function bindingForNumber(db: Db, phoneNumberId: string): Promise<NumberBinding | null> {
  const hit = cache.get(phoneNumberId);
  if (hit) return hit.binding;
  const row = await db
    .withSchema("control")
    .selectFrom("whatsapp_numbers as n")
    .innerJoin("tenants as t", "t.id", "n.tenant_id")
    .selectAll("t")
    .select([
      "n.phone_number_id",
      "n.display_phone_number",
      "n.throughput_per_second",
      "n.sending_paused_reason",
      "n.access_token_enc",
    ])
    .where("n.phone_number_id", "=", phoneNumberId)
    .executeTakeFirst();
  const binding = row
    ? {
        tenant: {
          id: row.id,
          slug: row.slug,
          name: row.name,
          schema_name: row.schema_name,
          timezone: row.timezone,
          region: row.region,
          status: row.status,
          billing_status: row.billing_status,
          schema_version: row.schema_version,
          created_at: row.created_at,
        },
        phoneNumberId: row.phone_number_id,
        displayPhoneNumber: row.display_phone_number,
        throughputPerSecond: row.throughput_per_second,
        pausedReason: row.sending_paused_reason,
        accessTokenEnc: row.access_token_enc,
      }
    : null;
  cache.set(phoneNumberId, binding ? { binding } : NO_BINDING);
  return binding;
}

const numberOfTenant = new LRUCache<string, { phoneNumberId: string | null }>({
  max: MAX_CACHED,
  ttl: TTL_MS,
});

/** The bank's number binding; every send needs it, so tenant → number is cached like number → bank. */
export async function bindingForTenant(db: Db, tenantId: string): Promise<NumberBinding | null> {
  let hit = numberOfTenant.get(tenantId);
  if (!hit) {
    const row = await db
      .withSchema("control")
      .selectFrom("whatsapp_numbers")
      .select("phone_number_id")
      .where("tenant_id", "=", tenantId)
      .executeTakeFirst();
    hit = { phoneNumberId: row?.phone_number_id ?? null };
    numberOfTenant.set(tenantId, hit);
  }
  return hit.phoneNumberId ? bindingForNumber(db, hit.phoneNumberId) : null;
}

export function forgetNumber(phoneNumberId: string): void {
  cache.delete(phoneNumberId);
}

/** How many numbers and banks the process holds bindings for (bounded by MAX_CACHED each). */
export function cachedBindings(): { numbers: number; tenants: number; max: number } {
  return { numbers: cache.size, tenants: numberOfTenant.size, max: MAX_CACHED };
}

export function accessToken(binding: NumberBinding, secretsKey: Buffer): string {
  return decryptSecret(binding.accessTokenEnc, secretsKey);
}
