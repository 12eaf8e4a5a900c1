import { z } from "@hono/zod-openapi";

export const slugSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,39}$/, "must match ^[a-z][a-z0-9-]{1,39}$")
  .openapi({ example: "sparkasse-musterstadt" });

export const tenantParam = z.object({
  tenant: slugSchema.openapi({ param: { name: "tenant", in: "path" } }),
});

export const passwordSchema = z.string().min(10, "must be at least 10 characters").max(200);

export const tenantSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    timezone: z.string(),
    region: z.string(),
    status: z.string(),
    billingStatus: z.string(),
    kscOrg: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("Tenant");

export function tenantView(
  t: {
    id: string;
    slug: string;
    name: string;
    timezone: string;
    region: string;
    status: string;
    billing_status: string;
    created_at: Date;
  },
  kscOrg: string | null = null,
) {
  return {
    id: t.id,
    slug: t.slug,
    name: t.name,
    timezone: t.timezone,
    region: t.region,
    status: t.status,
    billingStatus: t.billing_status,
    kscOrg,
    createdAt: t.created_at.toISOString(),
  };
}

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  body: { content: { "application/json": { schema } }, required: true },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
