import type { Actor } from "@kanal/core/kernel";
import { contractKsc } from "@kanal/core/conversations";
import { addKscAgent, createBankUser, createKscOrg, loadMemberships } from "@kanal/core/people";
import { putRoutingSettings } from "@kanal/core/routing";
import type { Services } from "@kanal/core/runtime";
import { findTenantBySlug, onboardTenant, resolveTenant } from "@kanal/core/tenants";

export const DEMO_PASSWORD = "kanal-demo-2026";

export const DEMO_BANKS = [
  {
    slug: "sparkasse-demo",
    name: "Sparkasse Demostadt",
    phoneNumberId: "100000000000001",
    wabaId: "200000000000001",
    display: "+49 89 1000001",
    region: "DE-BY",
  },
  {
    slug: "sparkasse-nord",
    name: "Sparkasse Nordheide",
    phoneNumberId: "100000000000002",
    wabaId: "200000000000002",
    display: "+49 40 1000002",
    region: "DE-HH",
  },
] as const;

/** Seeds two demo banks with agents, an advisor with a deputy, and one KSC serving both (idempotent). */
export async function seedDemo(services: Services, providerUserId: string): Promise<{ created: boolean }> {
  const { db } = services;
  if (await findTenantBySlug(db, DEMO_BANKS[0].slug)) return { created: false };
  const actor: Actor = {
    kind: "user",
    userId: providerUserId,
    email: "",
    name: "start",
    sessionId: null,
    memberships: await loadMemberships(db, providerUserId),
  };
  const ctx = { actor, ip: "local", requestId: "demo-seed" };
  const org = await createKscOrg(db, ctx, { slug: "ksc-nord", name: "KSC Nord GmbH" });
  for (const [i, name] of ["Karla Kühn", "Kemal Yıldız"].entries()) {
    await addKscAgent(db, ctx, org.slug, {
      email: `ksc${i + 1}@demo.kanal`,
      name,
      password: DEMO_PASSWORD,
      maxChats: 6,
    });
  }
  for (const bank of DEMO_BANKS) {
    const prefix = bank.slug === "sparkasse-demo" ? "" : "nord-";
    await onboardTenant(
      { db, secretsKey: services.config.secretsKey, tenantMigrations: services.tenantMigrations },
      ctx,
      {
        slug: bank.slug,
        name: bank.name,
        timezone: "Europe/Berlin",
        region: bank.region,
        whatsapp: {
          phoneNumberId: bank.phoneNumberId,
          wabaId: bank.wabaId,
          displayPhoneNumber: bank.display,
          accessToken: `demo-token-${bank.slug}`,
        },
        admin: { email: `${prefix}admin@demo.kanal`, name: "Anna Admin", password: DEMO_PASSWORD },
      },
    );
    await contractKsc(services, ctx, bank.slug, org.slug);
    const access = await resolveTenant(db, actor, bank.slug, { provider: true });
    const agent1 = await createBankUser(db, ctx, access, {
      email: `${prefix}agent1@demo.kanal`,
      name: "Bernd Berger",
      role: "bank_agent",
      password: DEMO_PASSWORD,
      maxChats: 4,
    });
    await createBankUser(db, ctx, access, {
      email: `${prefix}agent2@demo.kanal`,
      name: "Carla Schmidt",
      role: "bank_agent",
      password: DEMO_PASSWORD,
      maxChats: 4,
    });
    // The demo shows what banks buy Kanal for: the first bank hands chats outside its hours to the KSC,
    // the second overflows to the KSC beyond three chats in-house.
    const weekday = [["08:00", "20:00"]];
    await putRoutingSettings(services, ctx, access, {
      mode: bank.slug === "sparkasse-demo" ? "hours_outsourcing" : "capacity_overflow",
      capacityThreshold: 3,
      serviceHours: {
        mon: weekday,
        tue: weekday,
        wed: weekday,
        thu: weekday,
        fri: weekday,
        sat: [["09:00", "13:00"]],
        sun: [],
      },
      closures: ["2026-12-24", "2026-12-31"],
      awayMessage:
        "Vielen Dank für Ihre Nachricht! Unser Service ist gerade nicht besetzt. Wir melden uns ab {{naechsteOeffnung}}.",
      reopenWindowHours: 24,
      advisorRouting: true,
    });
    await createBankUser(db, ctx, access, {
      email: `${prefix}berater@demo.kanal`,
      name: "Dieter Vogel",
      role: "bank_advisor",
      password: DEMO_PASSWORD,
      maxChats: 5,
      deputyUserId: agent1.id,
      advisorCode: `${prefix ? "N" : "D"}V01`,
    });
  }
  return { created: true };
}
