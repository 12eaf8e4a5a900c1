// Typed fetch wrapper for the Kanal API (contract: shared/API.md).
// Same origin, session cookie only: no token ever lives in JS or storage.

type FieldError = { path: string; message: string };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, fields: FieldError[] = [], requestId?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.requestId = requestId;
  }

  /** Message for one form field, matched by its dotted path (`whatsapp.phoneNumberId`). */
  fieldMessage(path: string): string | undefined {
    return this.fields.find((f) => f.path === path)?.message;
  }
}

/** Listeners told when any request answers 401, so the app can return to the login. */
const unauthenticatedListeners = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pathToString(path: unknown): string {
  if (Array.isArray(path)) return path.map(String).join(".");
  return typeof path === "string" ? path : "";
}

/** The contract says `error.fields`; zod-based servers may nest them — accept the usual spellings. */
export function parseFieldErrors(error: Record<string, unknown>): FieldError[] {
  const details = isRecord(error.details) ? error.details : undefined;
  const candidates: unknown[] = [
    error.fields,
    details?.fields,
    details?.issues,
    error.issues,
    Array.isArray(error.details) ? error.details : undefined,
  ];
  for (const candidate of candidates) {
    if (Array.isArray(candidate)) {
      return candidate.filter(isRecord).map((f) => ({
        path: pathToString(f.path ?? f.field ?? f.name),
        message: typeof f.message === "string" ? f.message : String(f.message ?? ""),
      }));
    }
    // `{ "whatsapp.phoneNumberId": "message" }` or `{ field: ["message"] }`
    if (isRecord(candidate)) {
      return Object.entries(candidate).map(([path, message]) => ({
        path,
        message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      }));
    }
  }
  return [];
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

async function request<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", "");
  }
  const text = await response.text();
  let parsed: unknown;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : {};
    const code = typeof error.code === "string" ? error.code : `http_${response.status}`;
    const message = typeof error.message === "string" ? error.message : response.statusText;
    const requestId = typeof error.requestId === "string" ? error.requestId : undefined;
    const apiError = new ApiError(response.status, code, message, parseFieldErrors(error), requestId);
    // A failed login is also a 401 but must not bounce the user around.
    if (response.status === 401 && path !== "/v1/auth/login") {
      for (const listener of unauthenticatedListeners) listener();
    }
    throw apiError;
  }
  return parsed as T;
}

/** Lists may come under differing keys while the API is young; take the first array found. */
function pickArray<T>(value: unknown, ...keys: string[]): T[] {
  if (Array.isArray(value)) return value as T[];
  if (!isRecord(value)) return [];
  for (const key of keys) {
    const candidate = value[key];
    if (Array.isArray(candidate)) return candidate as T[];
  }
  return [];
}

const enc = encodeURIComponent;
const t = (tenant: string) => `/v1/tenants/${enc(tenant)}`;

// ---------- shapes ----------

export type WebhookEndpoint = {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  state: "enabled" | "disabled";
  disabledAt: string | null;
  disabledReason: string | null;
  failureStreak: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  previousSecretExpiresAt: string | null;
};
export type WebhookDelivery = {
  id: string;
  eventType: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  createdAt: string;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
};

export type { Role } from "@kanal/contracts/roles";
import type { Role } from "@kanal/contracts/roles";
export type Presence = "online" | "away" | "offline";

export type User = { id: string; email: string; name: string; presence?: Presence };
export type Membership = { tenant?: string; kscOrg?: string; role: Role };
/** `presence` is top-level in the answer of `GET /v1/me` (the user record has none). */
export type Me = { user: User; memberships: Membership[]; presence?: Presence };

export type Customer = {
  id: string;
  name: string | null;
  waId: string | null;
  externalRef?: string | null;
  advisorUserId?: string | null;
};
type ConversationStatus = "open" | "queued" | "closed" | string;
type HandledBy = "in_house" | "ksc" | "advisor" | string;

export type ConversationSummary = {
  id: string;
  tenant: string;
  /** The bank's display name (the inbox lists chats of several banks for KSC agents). */
  tenantName?: string;
  status: ConversationStatus;
  assigneeUserId: string | null;
  handledBy: HandledBy;
  queue?: string | null;
  customer: Customer;
  topic?: string | null;
  lastMessageAt?: string | null;
  queuedAt?: string | null;
  routingReason?: string | null;
};

/** A queue I may take from: `oldest` holds the longest-waiting chats (the API's name). */
export type Queue = {
  tenant: string;
  tenantName?: string;
  queue: string;
  count: number;
  oldestQueuedAt?: string | null;
  oldest: ConversationSummary[];
};
type Inbox = { conversations: ConversationSummary[]; queues: Queue[] };

export type MessageStatus = "queued" | "sent" | "delivered" | "read" | "failed" | "received" | string;
type Media = {
  id?: string;
  url?: string;
  mimeType?: string;
  filename?: string;
  caption?: string;
};
export type Message = {
  id: string;
  direction: "inbound" | "outbound";
  type?: string;
  text?: string | null;
  status?: MessageStatus;
  error?: string | { code?: string | number; message?: string; [key: string]: unknown } | null;
  media?: Media | null;
  createdAt: string;
  authorName?: string | null;
  authorUserId?: string | null;
  /** "customer" | "agent" | "away" | "hint" | "auto_reply" | "template" … */
  kind?: string;
  conversationId?: string;
};

export type Routing = { reason?: string; rule?: unknown; [key: string]: unknown };
export type ConversationDetail = {
  id: string;
  status: ConversationStatus;
  assigneeUserId: string | null;
  handledBy: HandledBy;
  customer: Customer;
  queue?: string | null;
  topic?: string | null;
  flags?: string[];
  routing?: Routing | null;
  openedAt?: string;
  closedAt?: string | null;
  windowExpiresAt?: string | null;
};
export type HistoryEntry =
  | Message
  | {
      conversationId?: string;
      id?: string;
      openedAt?: string;
      closedAt?: string | null;
      topic?: string | null;
      messages: Message[];
    };
export type ConversationView = {
  conversation: ConversationDetail;
  messages: Message[];
  history?: HistoryEntry[];
};

/** The rule guidance for the chat's topic (rule store); open-ended, shown as key/values. */
export type Guidance = Record<string, unknown>;

export type Snippet = { id: string; shortcut: string; title: string; body: string; category?: string | null };
type TemplateSend = { name: string; language: string; params: string[] };
/** A template of the bank's registry (synced from WhatsApp); only `sendable` ones can be sent. */
export type Template = {
  name: string;
  language: string;
  category: string;
  status: string;
  reason: string | null;
  sendable: boolean;
  header: string | null;
  body: string | null;
  footer: string | null;
  parameters: {
    component: "header" | "body" | "button";
    name: string;
    type: string;
    example: string | null;
  }[];
  buttons: { index: number; type: string; text: string }[];
};
export type SendBody = { text: string } | { snippetId: string } | { template: TemplateSend };

export type TenantUser = {
  id: string;
  email: string;
  name: string;
  role: Role;
  maxChats?: number | null;
  deputyUserId?: string | null;
  advisorCode?: string | null;
  presence?: Presence;
};
export type TenantUserInput = {
  email?: string;
  name?: string;
  role?: Role;
  password?: string;
  maxChats?: number;
  deputyUserId?: string | null;
  advisorCode?: string | null;
};

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";
export const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export type Interval = [string, string];
export type RoutingMode = "in_house" | "hours_outsourcing" | "capacity_overflow" | "full_service";
export type RoutingSettings = {
  mode: RoutingMode;
  capacityThreshold: number;
  serviceHours: Record<Weekday, Interval[]>;
  closures: string[];
  awayMessage: string;
  reopenWindowHours: number;
  advisorRouting: boolean;
  observePublicHolidays: boolean;
  // Not edited in the console yet, but sent back unchanged: PUT replaces the whole configuration.
  unansweredReassignMinutes?: number | null;
  queuedAtClosing?: "to_ksc" | "stay";
  openAtClosing?: "stay" | "to_ksc";
};

/** Public holidays of the bank's state plus its own closure days, for the service-hours editor. */
type Holidays = {
  region: string;
  year: number;
  holidays: { date: string; name: string }[];
  closures: string[];
};

export type WhatsAppProfile = {
  about?: string;
  address?: string;
  description?: string;
  email?: string;
  websites?: string[];
};

export type ApiKey = {
  id: string;
  name: string;
  prefix: string;
  scopes?: string[];
  createdAt?: string;
  lastUsedAt?: string | null;
  revokedAt?: string | null;
};
/** The answer of `POST /api-keys`: the secret `key` is in it this one time only. */
type CreatedApiKey = { apiKey: ApiKey & { key: string } };

export type AuditEntry = {
  /** Numeric (as a string), ascending with time: the paging cursor `before`. */
  id: string;
  at: string;
  actorUserId?: string | null;
  actorKind?: string;
  actorName?: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  details?: unknown;
};

export type Tenant = {
  id: string;
  slug: string;
  name: string;
  status?: string;
  billingStatus?: string | null;
  kscOrg?: string | null;
  timezone?: string;
  region?: string;
};
export type KscOrg = { id?: string; slug: string; name: string };

export type OnboardingInput = {
  slug: string;
  name: string;
  timezone: string;
  region: string;
  whatsapp: { phoneNumberId: string; wabaId: string; displayPhoneNumber: string; accessToken: string };
  admin: { email: string; name: string; password: string };
};

// ---------- endpoints ----------

export const api = {
  login: (email: string, password: string) =>
    request<{ user: User }>("POST", "/v1/auth/login", { email, password }),
  logout: () => request<void>("POST", "/v1/auth/logout"),
  me: () => request<Me>("GET", "/v1/me"),
  setPresence: (status: Presence) => request<unknown>("PUT", "/v1/me/presence", { status }),

  inbox: async (): Promise<Inbox> => {
    const raw = await request<Partial<Inbox>>("GET", "/v1/inbox");
    return {
      conversations: raw.conversations ?? [],
      queues: (raw.queues ?? []).map((q) => ({ ...q, oldest: q.oldest ?? [] })),
    };
  },
  tenant: (tenant: string) => request<{ tenant: Tenant } | Tenant>("GET", t(tenant)),
  conversation: (tenant: string, id: string) =>
    request<ConversationView>("GET", `${t(tenant)}/conversations/${enc(id)}`),
  sendMessage: (tenant: string, id: string, body: SendBody) =>
    request<{ message: { id: string; status: MessageStatus; text?: string | null } }>(
      "POST",
      `${t(tenant)}/conversations/${enc(id)}/messages`,
      body,
    ),
  guidance: (tenant: string, id: string) =>
    request<{ guidance: Guidance }>("GET", `${t(tenant)}/conversations/${enc(id)}/guidance`),
  take: (tenant: string, id: string) =>
    request<unknown>("POST", `${t(tenant)}/conversations/${enc(id)}/take`, {}),
  handover: (
    tenant: string,
    id: string,
    body: ({ toUserId: string } | { toQueue: "bank" | "ksc" }) & { note?: string },
  ) => request<unknown>("POST", `${t(tenant)}/conversations/${enc(id)}/handover`, body),
  close: (tenant: string, id: string) =>
    request<unknown>("POST", `${t(tenant)}/conversations/${enc(id)}/close`, {}),
  callback: (tenant: string, id: string, body: { note: string; preferredTime?: string }) =>
    request<unknown>("POST", `${t(tenant)}/conversations/${enc(id)}/callback`, body),
  linkCustomer: (tenant: string, id: string, customerId: string) =>
    request<unknown>("POST", `${t(tenant)}/conversations/${enc(id)}/customer`, { customerId }),
  searchCustomers: async (tenant: string, q: string) =>
    pickArray<Customer>(await request<unknown>("GET", `${t(tenant)}/customers?q=${enc(q)}`), "customers"),

  templates: async (tenant: string) =>
    pickArray<Template>(await request<unknown>("GET", `${t(tenant)}/templates`), "templates"),
  snippets: async (tenant: string) =>
    pickArray<Snippet>(await request<unknown>("GET", `${t(tenant)}/snippets`), "snippets"),
  createSnippet: (tenant: string, body: Omit<Snippet, "id">) =>
    request<unknown>("POST", `${t(tenant)}/snippets`, body),
  updateSnippet: (tenant: string, id: string, body: Partial<Omit<Snippet, "id">>) =>
    request<unknown>("PATCH", `${t(tenant)}/snippets/${enc(id)}`, body),
  deleteSnippet: (tenant: string, id: string) =>
    request<unknown>("DELETE", `${t(tenant)}/snippets/${enc(id)}`),

  users: async (tenant: string) =>
    pickArray<TenantUser>(await request<unknown>("GET", `${t(tenant)}/users`), "users"),
  createUser: (tenant: string, body: TenantUserInput) => request<unknown>("POST", `${t(tenant)}/users`, body),
  updateUser: (tenant: string, id: string, body: TenantUserInput) =>
    request<unknown>("PATCH", `${t(tenant)}/users/${enc(id)}`, body),

  routing: async (tenant: string) => {
    const raw = await request<{ routing?: RoutingSettings } & Partial<RoutingSettings>>(
      "GET",
      `${t(tenant)}/routing`,
    );
    return raw.routing ?? (raw as Partial<RoutingSettings>);
  },
  holidays: (tenant: string, year: number) =>
    request<Holidays>("GET", `${t(tenant)}/routing/holidays?year=${year}`),
  saveRouting: (tenant: string, body: RoutingSettings) =>
    request<unknown>("PUT", `${t(tenant)}/routing`, body),

  profile: async (tenant: string) => {
    const raw = await request<{ profile?: WhatsAppProfile } & WhatsAppProfile>(
      "GET",
      `${t(tenant)}/whatsapp/profile`,
    );
    return raw.profile ?? raw;
  },
  saveProfile: (tenant: string, body: WhatsAppProfile) =>
    request<unknown>("PUT", `${t(tenant)}/whatsapp/profile`, body),

  apiKeys: async (tenant: string) =>
    pickArray<ApiKey>(await request<unknown>("GET", `${t(tenant)}/api-keys`), "apiKeys", "keys"),
  createApiKey: (tenant: string, name: string, scopes?: string[]) =>
    request<CreatedApiKey>("POST", `${t(tenant)}/api-keys`, { name, ...(scopes && { scopes }) }),
  deleteApiKey: (tenant: string, id: string) =>
    request<unknown>("DELETE", `${t(tenant)}/api-keys/${enc(id)}`),

  /** Newest first; `before` is the numeric id of the oldest entry already shown. */
  audit: async (tenant: string, limit: number, before?: string) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before) query.set("before", before);
    return pickArray<AuditEntry>(await request<unknown>("GET", `${t(tenant)}/audit?${query}`), "entries");
  },

  webhookEndpoints: async (tenant: string) =>
    pickArray<WebhookEndpoint>(await request<unknown>("GET", `${t(tenant)}/webhook-endpoints`), "endpoints"),
  createWebhookEndpoint: (
    tenant: string,
    body: { url: string; events: string[]; description?: string | null },
  ) =>
    request<{ endpoint: WebhookEndpoint & { secret: string } }>(
      "POST",
      `${t(tenant)}/webhook-endpoints`,
      body,
    ),
  updateWebhookEndpoint: (tenant: string, id: string, body: { events?: string[]; enabled?: boolean }) =>
    request<{ endpoint: WebhookEndpoint }>("PATCH", `${t(tenant)}/webhook-endpoints/${enc(id)}`, body),
  deleteWebhookEndpoint: (tenant: string, id: string) =>
    request<unknown>("DELETE", `${t(tenant)}/webhook-endpoints/${enc(id)}`),
  rotateWebhookSecret: (tenant: string, id: string) =>
    request<{ endpoint: WebhookEndpoint & { secret: string } }>(
      "POST",
      `${t(tenant)}/webhook-endpoints/${enc(id)}/rotate-secret`,
      {},
    ),
  webhookDeliveries: (tenant: string, id: string, cursor?: string) =>
    request<{ deliveries: WebhookDelivery[]; nextCursor: string | null }>(
      "GET",
      `${t(tenant)}/webhook-endpoints/${enc(id)}/deliveries?limit=25${cursor ? `&cursor=${enc(cursor)}` : ""}`,
    ),
  resendWebhookDelivery: (tenant: string, id: string, deliveryId: string) =>
    request<unknown>(
      "POST",
      `${t(tenant)}/webhook-endpoints/${enc(id)}/deliveries/${enc(deliveryId)}/resend`,
    ),

  tenants: async () => pickArray<Tenant>(await request<unknown>("GET", "/v1/tenants"), "tenants"),
  createTenant: (body: OnboardingInput) =>
    request<{ tenant: Tenant; admin: { id: string; email: string } }>("POST", "/v1/tenants", body),
  kscOrgs: async () => pickArray<KscOrg>(await request<unknown>("GET", "/v1/ksc-orgs"), "kscOrgs", "orgs"),
  createKscOrg: (body: { slug: string; name: string }) => request<unknown>("POST", "/v1/ksc-orgs", body),
  createKscAgent: (org: string, body: { email: string; name: string; password: string; maxChats?: number }) =>
    request<unknown>("POST", `/v1/ksc-orgs/${enc(org)}/agents`, body),
  contractKsc: (tenant: string, kscOrg: string) => request<unknown>("PUT", `${t(tenant)}/ksc`, { kscOrg }),
};
