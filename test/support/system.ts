import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { DestinationStream } from "pino";
import { inject } from "vitest";
import { loadConfig } from "@kanal/config";
import { createProviderAdmin } from "@kanal/core/people";
import { EventHub } from "@kanal/core/realtime";
import { createServices, type Services } from "@kanal/core/runtime";
import type { SchemaMigration } from "@kanal/db";
import { type AppHooks, newApp, type KanalApp } from "../../apps/api/src/app";
import { apiHooks } from "../../apps/api/src/hooks";

export interface TestSystem {
  app: KanalApp;
  services: Services;
  hub: EventHub;
  env: Record<string, string>;
  close(): Promise<void>;
}

export const unique = (prefix = "t") => `${prefix}${randomBytes(4).toString("hex")}`;
export const uniqueDigits = (n = 12) =>
  Array.from(randomBytes(n), (b) => String(b % 10))
    .join("")
    .replace(/^0/, "1");

/** The real app on the run's own database and queue prefix; nothing is mocked. */
export async function startTestSystem(
  options: {
    env?: Record<string, string>;
    tenantMigrations?: readonly SchemaMigration[];
    logDestination?: DestinationStream;
    /** Extra route groups, e.g. `serveWebConsole(dist)` for the browser tests. */
    extend?: AppHooks["extend"];
  } = {},
): Promise<TestSystem> {
  const env = {
    ...process.env,
    NODE_ENV: "test",
    DATABASE_URL: inject("databaseUrl"),
    REDIS_URL: inject("redisUrl"),
    QUEUE_PREFIX: `kanal-test-${inject("runId")}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...options.env,
  } as Record<string, string>;
  const config = loadConfig(env);
  const services = createServices(config, {
    name: "kanal-test",
    dbPoolSize: 8,
    tenantMigrations: options.tenantMigrations,
    logDestination: options.logDestination,
  });
  const hub = new EventHub(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }), config.QUEUE_PREFIX);
  await hub.start();
  const app = newApp(services, hub, { ...apiHooks(services), extend: options.extend });
  return {
    app,
    services,
    hub,
    env,
    async close() {
      await hub.stop();
      await services.close();
    },
  };
}

interface TestResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A cookie-keeping client over `app.request`, like a browser or an integrator would use the API. */
export class TestClient {
  cookie: string | null = null;
  bearer: string | null = null;
  constructor(private readonly app: KanalApp) {}

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<TestResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined && !h["content-type"]) h["content-type"] = "application/json";
    if (this.cookie) h.cookie = this.cookie;
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    const res = await this.app.request(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const setCookie = res.headers.get("set-cookie");
    if (setCookie?.startsWith("kanal_session=")) {
      const value = setCookie.split(";")[0] ?? "";
      this.cookie = value === "kanal_session=" ? null : value;
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = Record<string, unknown>>(path: string) => this.request<T>("GET", path);
  post = <T = Record<string, unknown>>(path: string, body?: unknown) =>
    this.request<T>("POST", path, body ?? {});
  put = <T = Record<string, unknown>>(path: string, body?: unknown) =>
    this.request<T>("PUT", path, body ?? {});
  patch = <T = Record<string, unknown>>(path: string, body?: unknown) =>
    this.request<T>("PATCH", path, body ?? {});
  delete = <T = Record<string, unknown>>(path: string) => this.request<T>("DELETE", path);

  async login(email: string, password: string): Promise<TestResponse> {
    const res = await this.request("POST", "/v1/auth/login", { email, password });
    if (res.status !== 200)
      throw new Error(`login ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  }
}

export const PASSWORD = "correct-horse-battery";

export async function providerClient(system: TestSystem): Promise<TestClient> {
  const email = `${unique("provider")}@kanal.test`;
  await createProviderAdmin(system.services.db, { email, name: "Test Provider", password: PASSWORD });
  const client = new TestClient(system.app);
  await client.login(email, PASSWORD);
  return client;
}

export interface Bank {
  slug: string;
  tenantId: string;
  schema: string;
  phoneNumberId: string;
  /** the WhatsApp Business Account (its templates live there) */
  wabaId: string;
  accessToken: string;
  adminEmail: string;
  adminId: string;
  admin: TestClient;
}

/** Onboards a bank through the public API, exactly as the provider does. */
export async function onboardBank(
  system: TestSystem,
  provider: TestClient,
  overrides: Record<string, unknown> = {},
): Promise<Bank> {
  const slug = unique("bank-");
  const phoneNumberId = uniqueDigits(15);
  const wabaId = uniqueDigits(15);
  const accessToken = `EAAG${randomBytes(24).toString("hex")}`;
  const adminEmail = `admin@${slug}.test`;
  const res = await provider.post<{ tenant: { id: string; slug: string }; admin: { id: string } }>(
    "/v1/tenants",
    {
      slug,
      name: `Sparkasse ${slug}`,
      whatsapp: {
        phoneNumberId,
        wabaId,
        displayPhoneNumber: "+49 89 1234567",
        accessToken,
      },
      admin: { email: adminEmail, name: "Anna Admin", password: PASSWORD },
      ...overrides,
    },
  );
  if (res.status !== 201) throw new Error(`onboarding failed: ${res.status} ${JSON.stringify(res.body)}`);
  const admin = new TestClient(system.app);
  await admin.login(adminEmail, PASSWORD);
  return {
    slug,
    tenantId: res.body.tenant.id,
    schema: `t_${slug.replaceAll("-", "_")}`,
    phoneNumberId,
    wabaId,
    accessToken,
    adminEmail,
    adminId: res.body.admin.id,
    admin,
  };
}

export async function addBankUser(
  system: TestSystem,
  bank: Bank,
  role: "bank_admin" | "bank_agent" | "bank_advisor",
  extra: Record<string, unknown> = {},
) {
  const email = `${unique(role)}@${bank.slug}.test`;
  const res = await bank.admin.post<{ user: { id: string } }>(`/v1/tenants/${bank.slug}/users`, {
    email,
    name: `${role} ${email.slice(0, 6)}`,
    role,
    password: PASSWORD,
    ...extra,
  });
  if (res.status !== 201) throw new Error(`user creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  const client = new TestClient(system.app);
  await client.login(email, PASSWORD);
  return { id: res.body.user.id, email, client };
}
