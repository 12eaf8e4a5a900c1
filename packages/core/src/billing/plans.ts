import type Stripe from "stripe";
import { sql } from "@kanal/db";
import type { Db } from "@kanal/db";
import { auditControl } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { AppError, conflict, invalid, notFound, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { requireProvider } from "../tenants/access";
import { isStripeError } from "./stripe";
import { billingDb, type PlanAmounts } from "./tables";

export interface PlanInput {
  code: string;
  name: string;
  prices: {
    base: string;
    inHouseConversation: string;
    kscConversation: string;
    templateMessage: string;
  };
  isDefault?: boolean;
}

export interface PlanView {
  id: string;
  code: string;
  name: string;
  currency: string;
  prices: PlanInput["prices"];
  amounts: PlanAmounts;
  isDefault: boolean;
  active: boolean;
}

type PlanRow = {
  id: string;
  code: string;
  name: string;
  currency: string;
  stripe_base_price_id: string;
  stripe_in_house_price_id: string;
  stripe_ksc_price_id: string;
  stripe_template_price_id: string;
  amounts: PlanAmounts;
  is_default: boolean;
  active: boolean;
};

export function planView(row: PlanRow): PlanView {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    currency: row.currency,
    prices: {
      base: row.stripe_base_price_id,
      inHouseConversation: row.stripe_in_house_price_id,
      kscConversation: row.stripe_ksc_price_id,
      templateMessage: row.stripe_template_price_id,
    },
    amounts: row.amounts,
    isDefault: row.is_default,
    active: row.active,
  };
}

/**
 * Checks the price ids against Stripe: the base fee must be a licensed monthly price, the three usage
 * prices metered ones, all in one currency. Returns the currency and the amounts for display.
 */
async function checkPrices(
  stripe: Stripe,
  prices: PlanInput["prices"],
): Promise<{ currency: string; amounts: PlanAmounts }> {
  const fields = [
    ["base", prices.base, "licensed"],
    ["in_house_conversation", prices.inHouseConversation, "metered"],
    ["ksc_conversation", prices.kscConversation, "metered"],
    ["template_message", prices.templateMessage, "metered"],
  ] as const;
  const paths: Record<string, string> = {
    base: "prices.base",
    in_house_conversation: "prices.inHouseConversation",
    ksc_conversation: "prices.kscConversation",
    template_message: "prices.templateMessage",
  };
  const amounts: PlanAmounts = {};
  const currencies = new Set<string>();
  for (const [kind, priceId, usage] of fields) {
    let price: Stripe.Price;
    try {
      price = await stripe.prices.retrieve(priceId);
    } catch (error) {
      if (isStripeError(error) && error.statusCode === 404) {
        throw invalid("Unknown Stripe price", [
          { path: paths[kind] ?? kind, message: `No such price: ${priceId}` },
        ]);
      }
      throw new AppError("unavailable", "Stripe could not be reached to check the prices; try again");
    }
    if (price.recurring?.usage_type !== usage) {
      throw invalid("Wrong kind of Stripe price", [
        {
          path: paths[kind] ?? kind,
          message:
            usage === "metered"
              ? "must be a metered recurring price (on a meter)"
              : "must be a licensed recurring price",
        },
      ]);
    }
    currencies.add(price.currency);
    amounts[kind] = price.unit_amount;
  }
  if (currencies.size !== 1) throw invalid("All prices of a plan must be in one currency");
  return { currency: [...currencies][0] ?? "eur", amounts };
}

export async function listPlans(db: Db, ctx: RequestContext): Promise<PlanView[]> {
  requireProvider(ctx.actor);
  const rows = await billingDb(db)
    .withSchema("control")
    .selectFrom("billing_plans")
    .selectAll()
    .orderBy("code")
    .execute();
  return rows.map(planView);
}

/** Saves a plan (new code = new plan; an existing code is updated). Prices live in Stripe; we keep ids. */
export async function savePlan(
  db: Db,
  stripe: Stripe | null,
  ctx: RequestContext,
  input: PlanInput,
): Promise<PlanView> {
  requireProvider(ctx.actor);
  const checked = stripe ? await checkPrices(stripe, input.prices) : { currency: "eur", amounts: {} };
  const bdb = billingDb(db);
  try {
    return await bdb.transaction().execute(async (trx) => {
      if (input.isDefault) {
        await trx
          .withSchema("control")
          .updateTable("billing_plans")
          .set({ is_default: false, updated_at: sql`now()` })
          .where("is_default", "=", true)
          .where("code", "<>", input.code)
          .execute();
      }
      const values = {
        name: input.name,
        currency: checked.currency,
        stripe_base_price_id: input.prices.base,
        stripe_in_house_price_id: input.prices.inHouseConversation,
        stripe_ksc_price_id: input.prices.kscConversation,
        stripe_template_price_id: input.prices.templateMessage,
        amounts: JSON.stringify(checked.amounts),
        ...(input.isDefault !== undefined ? { is_default: input.isDefault } : {}),
      };
      const row = await trx
        .withSchema("control")
        .insertInto("billing_plans")
        .values({ id: newId("plan"), code: input.code, ...values })
        .onConflict((oc) => oc.column("code").doUpdateSet({ ...values, updated_at: sql`now()` }))
        .returningAll()
        .executeTakeFirstOrThrow();
      await auditControl(trx, ctx.actor, {
        action: "billing.plan_saved",
        targetType: "billing_plan",
        targetId: row.id,
        details: { code: row.code, prices: input.prices, isDefault: row.is_default },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
      return planView(row);
    });
  } catch (error) {
    if (uniqueViolation(error) !== null)
      throw conflict("Another plan is being made the default at the same time; try again");
    throw error;
  }
}

/**
 * Sets the bank's plan. Changing the plan of a running subscription is done in Stripe's dashboard
 * (proration is a finance decision), so it is refused here once a subscription exists.
 */
export async function assignPlan(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  code: string,
): Promise<{ planId: string; changed: boolean }> {
  requireProvider(ctx.actor);
  const bdb = billingDb(db);
  return bdb.transaction().execute(async (trx) => {
    const plan = await trx
      .withSchema("control")
      .selectFrom("billing_plans")
      .select(["id", "active"])
      .where("code", "=", code)
      .executeTakeFirst();
    if (!plan) throw notFound("Plan");
    if (!plan.active) throw invalid("This plan is retired", [{ path: "plan", message: "is not active" }]);
    await trx
      .withSchema("control")
      .insertInto("billing_accounts")
      .values({ tenant_id: access.tenant.id, updated_at: sql`now()` })
      .onConflict((oc) => oc.column("tenant_id").doNothing())
      .execute();
    const account = await trx
      .withSchema("control")
      .selectFrom("billing_accounts")
      .select(["plan_id", "stripe_subscription_id"])
      .where("tenant_id", "=", access.tenant.id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (account.plan_id === plan.id) return { planId: plan.id, changed: false };
    if (account.stripe_subscription_id) {
      throw conflict("The bank already has a Stripe subscription; change its prices in Stripe");
    }
    await trx
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({ plan_id: plan.id, updated_at: sql`now()` })
      .where("tenant_id", "=", access.tenant.id)
      .execute();
    await auditControl(trx, ctx.actor, {
      action: "billing.plan_assigned",
      targetType: "tenant",
      targetId: access.tenant.id,
      tenantId: access.tenant.id,
      details: { plan: code },
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
    return { planId: plan.id, changed: true };
  });
}
