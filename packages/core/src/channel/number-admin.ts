import type { Db } from "@kanal/db";
import { auditControl, auditTenant } from "../kernel/audit";
import { encryptSecret } from "../kernel/crypto";
import { AppError, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { GraphClient, GraphError } from "./graph";
import { accessToken, bindingForTenant, forgetNumber } from "./tenants-by-number";

export async function numberStatus(db: Db, tenantId: string) {
  const row = await db
    .withSchema("control")
    .selectFrom("whatsapp_numbers")
    .select([
      "phone_number_id",
      "waba_id",
      "display_phone_number",
      "throughput_per_second",
      "sending_paused_at",
      "sending_paused_reason",
    ])
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  if (!row) throw notFound("WhatsApp number");
  return {
    phoneNumberId: row.phone_number_id,
    wabaId: row.waba_id,
    displayPhoneNumber: row.display_phone_number,
    throughputPerSecond: row.throughput_per_second,
    sendingPaused: row.sending_paused_at !== null,
    pausedReason: row.sending_paused_reason,
    pausedAt: row.sending_paused_at?.toISOString() ?? null,
  };
}

/** The provider replaces a bank's access token or throughput; a new token resumes paused sending. */
export async function updateNumber(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  secretsKey: Buffer,
  input: { accessToken?: string; throughputPerSecond?: number },
) {
  const binding = await bindingForTenant(db, access.tenant.id);
  if (!binding) throw notFound("WhatsApp number");
  await db.transaction().execute(async (trx) => {
    await trx
      .withSchema("control")
      .updateTable("whatsapp_numbers")
      .set({
        ...(input.accessToken && {
          access_token_enc: encryptSecret(input.accessToken, secretsKey),
          sending_paused_at: null,
          sending_paused_reason: null,
        }),
        ...(input.throughputPerSecond && { throughput_per_second: input.throughputPerSecond }),
      })
      .where("phone_number_id", "=", binding.phoneNumberId)
      .execute();
    const entry = {
      action: "whatsapp.number_updated",
      targetType: "whatsapp_number",
      targetId: binding.phoneNumberId,
      details: {
        tokenReplaced: Boolean(input.accessToken),
        throughputPerSecond: input.throughputPerSecond ?? null,
      },
      ip: ctx.ip,
      requestId: ctx.requestId,
    };
    await auditTenant(trx, access.schema, ctx.actor, entry);
    await auditControl(trx, ctx.actor, { ...entry, tenantId: access.tenant.id });
  });
  forgetNumber(binding.phoneNumberId);
  return numberStatus(db, access.tenant.id);
}

function graphFor(services: Services) {
  return new GraphClient({
    baseUrl: services.config.WHATSAPP_API_BASE_URL,
    version: services.config.WHATSAPP_API_VERSION,
  });
}

function unavailable(error: unknown): never {
  if (error instanceof GraphError) throw new AppError("unavailable", `WhatsApp answered: ${error.title}`);
  throw error;
}

export const PROFILE_FIELDS = ["about", "address", "description", "email", "websites", "vertical"] as const;

export async function getBusinessProfile(services: Services, access: TenantAccess) {
  const binding = await bindingForTenant(services.db, access.tenant.id);
  if (!binding) throw notFound("WhatsApp number");
  const profile = await graphFor(services)
    .getBusinessProfile(binding.phoneNumberId, accessToken(binding, services.config.secretsKey))
    .catch(unavailable);
  return Object.fromEntries(PROFILE_FIELDS.map((f) => [f, profile[f] ?? (f === "websites" ? [] : "")]));
}

export async function updateBusinessProfile(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  profile: Partial<Record<(typeof PROFILE_FIELDS)[number], unknown>>,
) {
  const binding = await bindingForTenant(services.db, access.tenant.id);
  if (!binding) throw notFound("WhatsApp number");
  await graphFor(services)
    .updateBusinessProfile(binding.phoneNumberId, accessToken(binding, services.config.secretsKey), profile)
    .catch(unavailable);
  await auditTenant(services.db, access.schema, ctx.actor, {
    action: "whatsapp.profile_updated",
    targetType: "whatsapp_number",
    targetId: binding.phoneNumberId,
    details: { fields: Object.keys(profile) },
    ip: ctx.ip,
    requestId: ctx.requestId,
  });
  return getBusinessProfile(services, access);
}
