import { PairRateBucket, ThroughputWindow } from "./limits";
import { randomHex } from "./random";
import type { StoredMedia } from "./media";
import type { MetaError } from "./meta-errors";
import { pairRateLimitError, throughputLimitError, windowClosedError } from "./meta-errors";
import type { SimulatorConfig, SimulatorOptions } from "./options";
import { resolveConfig } from "./options";
import type { BusinessNumber, MessageStatus, PricingInfo, StatusUpdate } from "./webhooks";
import { request } from "undici";
import { TemplateCatalogue } from "./templates";
import { buildStatusPayload, buildStatusesPayload, signatureHeader } from "./webhooks";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Keeps memory bounded during long demo runs and load tests. */
const MAX_LOG_ENTRIES = 20_000;

export type FaultKind = "5xx" | "timeout" | "token_expired" | "rate_limit" | "pair_rate";

export interface Fault {
  id: number;
  kind: FaultKind;
  /** Undefined: every number. */
  phoneNumberId?: string;
  /** Requests left to fail; null: until `DELETE /_sim/faults`. */
  remaining: number | null;
  /** For `timeout`: accept (and deliver) the message, but never answer in time. */
  acceptBeforeTimeout: boolean;
}

export interface BusinessProfile {
  about: string;
  address: string;
  description: string;
  email: string;
  websites: string[];
  vertical: string;
  profile_picture_url: string;
}

export interface SentMessage {
  wamid: string;
  phoneNumberId: string;
  /** `to` exactly as Kanal sent it. */
  to: string;
  waId: string;
  type: string;
  /** The request body as received. */
  body: Record<string, unknown>;
  token: string;
  acceptedAt: string;
  acceptedAtMs: number;
  bizOpaqueCallbackData?: string;
  statuses: Array<{ status: MessageStatus; at: string; webhookStatus: number | null }>;
}

export interface InboundMessage {
  wamid: string;
  phoneNumberId: string;
  from: string;
  name: string;
  type: string;
  message: Record<string, unknown>;
  receivedAt: string;
  receivedAtMs: number;
  webhookStatus: number | null;
}

export interface ReadReceipt {
  phoneNumberId: string;
  messageId: string;
  token: string;
  at: string;
}

export interface WebhookDelivery {
  id: number;
  kind: "inbound" | "status" | "template";
  phoneNumberId: string;
  payload: Record<string, unknown>;
  attempts: number;
  lastStatus: number | null;
  lastError?: string;
  delivered: boolean;
}

export interface NumberStats {
  accepted: number;
  rejected: Record<string, number>;
  maxAcceptedPerSecond: number;
  /** Accepted sends whose biz_opaque_callback_data had been accepted before. */
  duplicatesByBizOpaque: number;
}

export interface WebhookResult {
  /** HTTP status of the first attempt (null: network error). */
  first: Promise<number | null>;
  /** HTTP status of the last attempt, after any retries. */
  done: Promise<number | null>;
}

function defaultProfile(): BusinessProfile {
  return {
    about: "Ihre Bank auf WhatsApp",
    address: "Marienplatz 1, 80331 München",
    description: "Kundenservice per WhatsApp",
    email: "service@bank.example",
    websites: ["https://bank.example"],
    vertical: "FINANCE",
    profile_picture_url: "",
  };
}

export class SimulatorState {
  config: SimulatorConfig;
  clockOffsetMs = 0;
  readonly sent: SentMessage[] = [];
  readonly inbound: InboundMessage[] = [];
  readonly reads: ReadReceipt[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  readonly media = new Map<string, StoredMedia>();
  faults: Fault[] = [];

  private readonly profiles = new Map<string, BusinessProfile>();
  private readonly windows = new Map<string, number>();
  private readonly throughput = new Map<string, ThroughputWindow>();
  private readonly pairBuckets = new Map<string, PairRateBucket>();
  private readonly stats = new Map<string, NumberStats>();
  private readonly bizOpaqueSeen = new Map<string, number>();
  private readonly conversations = new Map<string, { id: string; expiresAtMs: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly cancellers = new Set<() => void>();
  private nextFaultId = 1;
  private nextDeliveryId = 1;

  /** Message templates per WhatsApp Business Account (seeded from `options.templates`). */
  readonly templates = new TemplateCatalogue();

  constructor(private readonly options: SimulatorOptions) {
    this.config = resolveConfig(options);
    this.seedTemplates();
  }

  private seedTemplates(): void {
    this.templates.clear();
    for (const seed of this.options.templates ?? []) this.templates.upsert(seed);
  }

  /** The simulator's clock: real time plus the offset tests set to let windows expire. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  businessNumber(phoneNumberId: string): BusinessNumber {
    const settings = this.config.numbers[phoneNumberId] ?? {};
    const digits = phoneNumberId.replace(/\D/g, "");
    return {
      phoneNumberId,
      // Webhooks carry the display number as bare digits ("+49 89 1000001" → "49891000001").
      displayPhoneNumber:
        settings.displayPhoneNumber?.replace(/\D/g, "") || `4989${digits.slice(-7).padStart(7, "0")}`,
      wabaId: settings.wabaId ?? `1${digits.slice(-14).padStart(14, "0")}`,
    };
  }

  /** Numbers the simulator has seen or was told about, for the customer-phone page. */
  knownNumbers(): BusinessNumber[] {
    const ids = new Set<string>(Object.keys(this.config.numbers));
    for (const message of this.sent) ids.add(message.phoneNumberId);
    for (const message of this.inbound) ids.add(message.phoneNumberId);
    return [...ids].sort().map((id) => this.businessNumber(id));
  }

  registerNumber(phoneNumberId: string, displayPhoneNumber: string | undefined): void {
    if (displayPhoneNumber === undefined) return;
    this.config.numbers[phoneNumberId] = { ...this.config.numbers[phoneNumberId], displayPhoneNumber };
  }

  tokenIsValid(phoneNumberId: string | undefined, token: string): boolean {
    if (token.length === 0) return false;
    const expected =
      phoneNumberId === undefined ? undefined : this.config.numbers[phoneNumberId]?.accessToken;
    return expected === undefined || expected === token;
  }

  profile(phoneNumberId: string): BusinessProfile {
    let profile = this.profiles.get(phoneNumberId);
    if (!profile) {
      profile = defaultProfile();
      this.profiles.set(phoneNumberId, profile);
    }
    return profile;
  }

  addFault(input: Omit<Fault, "id">): Fault {
    const fault = { id: this.nextFaultId++, ...input };
    this.faults.push(fault);
    return fault;
  }

  /** Takes one use of the first fault matching the number (or a global one). */
  consumeFault(phoneNumberId: string | undefined): Fault | undefined {
    const fault = this.faults.find(
      (candidate) => candidate.phoneNumberId === undefined || candidate.phoneNumberId === phoneNumberId,
    );
    if (!fault) return undefined;
    if (fault.remaining !== null) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.faults = this.faults.filter((candidate) => candidate !== fault);
    }
    return fault;
  }

  openWindow(phoneNumberId: string, waId: string, atMs = this.now()): void {
    this.windows.set(`${phoneNumberId}:${waId}`, atMs);
  }

  isWindowOpen(phoneNumberId: string, waId: string): boolean {
    const openedAt = this.windows.get(`${phoneNumberId}:${waId}`);
    return openedAt !== undefined && this.now() - openedAt < DAY_MS;
  }

  numberStats(phoneNumberId: string): NumberStats {
    let stats = this.stats.get(phoneNumberId);
    if (!stats) {
      stats = { accepted: 0, rejected: {}, maxAcceptedPerSecond: 0, duplicatesByBizOpaque: 0 };
      this.stats.set(phoneNumberId, stats);
    }
    return stats;
  }

  allStats(): Record<string, NumberStats> {
    return Object.fromEntries(this.stats);
  }

  duplicateBizOpaque(): Array<{ bizOpaqueCallbackData: string; count: number }> {
    return [...this.bizOpaqueSeen]
      .filter(([, count]) => count > 1)
      .map(([bizOpaqueCallbackData, count]) => ({ bizOpaqueCallbackData, count }));
  }

  recordRejection(phoneNumberId: string, code: number): void {
    const rejected = this.numberStats(phoneNumberId).rejected;
    rejected[String(code)] = (rejected[String(code)] ?? 0) + 1;
  }

  /**
   * Applies throughput, the 24-hour window and the pair rate, in that order, and on success
   * counts the send. Synchronous on purpose: concurrent requests cannot interleave here.
   */
  admitSend(phoneNumberId: string, waId: string, isTemplate: boolean): MetaError | null {
    const now = this.now();
    const limit = this.config.numbers[phoneNumberId]?.throughputPerSecond ?? this.config.throughputPerSecond;
    let window = this.throughput.get(phoneNumberId);
    if (!window) {
      window = new ThroughputWindow();
      this.throughput.set(phoneNumberId, window);
    }
    if (!window.hasRoom(now, limit)) return throughputLimitError();
    if (this.config.enforceWindow && !isTemplate && !this.isWindowOpen(phoneNumberId, waId)) {
      return windowClosedError();
    }
    const pairRate = this.config.pairRate;
    if (pairRate !== false) {
      const key = `${phoneNumberId}:${waId}`;
      let bucket = this.pairBuckets.get(key);
      if (!bucket) {
        bucket = new PairRateBucket(now, pairRate.burst);
        this.pairBuckets.set(key, bucket);
      }
      if (!bucket.tryTake(now, pairRate)) return pairRateLimitError();
    }
    window.record(now);
    const stats = this.numberStats(phoneNumberId);
    stats.accepted += 1;
    stats.maxAcceptedPerSecond = window.maxPerSecond;
    return null;
  }

  recordSent(message: SentMessage): void {
    if (message.bizOpaqueCallbackData !== undefined) {
      const seen = this.bizOpaqueSeen.get(message.bizOpaqueCallbackData) ?? 0;
      if (seen > 0) this.numberStats(message.phoneNumberId).duplicatesByBizOpaque += 1;
      this.bizOpaqueSeen.set(message.bizOpaqueCallbackData, seen + 1);
    }
    pushBounded(this.sent, message);
  }

  recordInbound(message: InboundMessage): void {
    pushBounded(this.inbound, message);
  }

  recordRead(receipt: ReadReceipt): void {
    pushBounded(this.reads, receipt);
  }

  pricingFor(message: SentMessage): PricingInfo {
    const category = message.type === "template" ? this.templateCategory(message) : "service";
    const key = `${message.phoneNumberId}:${message.waId}:${category}`;
    let conversation = this.conversations.get(key);
    if (!conversation || conversation.expiresAtMs <= message.acceptedAtMs) {
      conversation = { id: randomHex(16), expiresAtMs: message.acceptedAtMs + DAY_MS };
      this.conversations.set(key, conversation);
    }
    return { category, conversationId: conversation.id, conversationExpiresAtMs: conversation.expiresAtMs };
  }

  /** A template send is priced by its template's category (utility when the catalogue does not know it). */
  private templateCategory(message: SentMessage): PricingInfo["category"] {
    const t = message.body.template as { name?: string; language?: { code?: string } } | undefined;
    const known = t?.name ? this.templates.find(t.name, t.language?.code ?? "") : undefined;
    return (known?.category.toLowerCase() as PricingInfo["category"] | undefined) ?? "utility";
  }

  /** Resolves true after `ms`, or false at once when the simulator is reset or closed meanwhile. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const cancel = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.cancellers.delete(cancel);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.cancellers.delete(cancel);
        resolve(true);
      }, ms);
      this.timers.add(timer);
      this.cancellers.add(cancel);
    });
  }

  /** POSTs a signed webhook to Kanal, retrying with doubling backoff until a 2xx or attempts run out. */
  deliverWebhook(
    kind: WebhookDelivery["kind"],
    phoneNumberId: string,
    payload: Record<string, unknown>,
  ): WebhookResult {
    const delivery: WebhookDelivery = {
      id: this.nextDeliveryId++,
      kind,
      phoneNumberId,
      payload,
      attempts: 0,
      lastStatus: null,
      delivered: false,
    };
    pushBounded(this.deliveries, delivery);
    const rawBody = JSON.stringify(payload);
    const attempt = async (): Promise<number | null> => {
      delivery.attempts += 1;
      try {
        // undici's request rather than fetch: no web Request/Response per webhook (the simulator sends
        // thousands a second in the dispatch benchmark, on the same two cores as Kanal).
        const response = await request(this.config.webhookUrl, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "facebookexternalua",
            "x-hub-signature-256": signatureHeader(rawBody, this.config.appSecret),
          },
          body: rawBody,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await response.body.dump();
        delivery.lastStatus = response.statusCode;
        delivery.delivered = response.statusCode >= 200 && response.statusCode < 300;
        delete delivery.lastError;
        return response.statusCode;
      } catch (error) {
        delivery.lastStatus = null;
        delivery.lastError = error instanceof Error ? error.message : String(error);
        return null;
      }
    };
    const first = attempt();
    const done = (async (): Promise<number | null> => {
      let status = await first;
      let backoff = this.config.webhookRetryBaseMs;
      while (!delivery.delivered && delivery.attempts < this.config.webhookMaxAttempts) {
        if (!(await this.sleep(backoff))) break;
        backoff *= 2;
        status = await attempt();
      }
      return status;
    })();
    return { first, done };
  }

  /** After an accepted send: sent, delivered and (optionally) read webhooks, in order, each after the delay. */
  async runStatusChain(message: SentMessage): Promise<void> {
    const number = this.businessNumber(message.phoneNumberId);
    const pricing = this.pricingFor(message);
    const steps: MessageStatus[] = ["sent", "delivered"];
    if (this.config.sendRead) steps.push("read");
    for (const status of steps) {
      if (!(await this.sleep(this.config.statusDelayMs))) return;
      const update: StatusUpdate = {
        wamid: message.wamid,
        status,
        recipientId: message.waId,
        atMs: this.now(),
        pricing,
        ...(message.bizOpaqueCallbackData === undefined
          ? {}
          : { bizOpaqueCallbackData: message.bizOpaqueCallbackData }),
      };
      const entry = { status, at: new Date(update.atMs).toISOString(), webhookStatus: null as number | null };
      message.statuses.push(entry);
      entry.webhookStatus =
        this.config.statusBatchMs > 0
          ? await this.batchStatus(message.phoneNumberId, update)
          : await this.deliverWebhook("status", message.phoneNumberId, buildStatusPayload(number, update))
              .done;
    }
  }

  private readonly statusBatches = new Map<string, StatusBatch>();

  /** Joins the number's next status webhook; resolves with that webhook's final HTTP status. */
  private batchStatus(phoneNumberId: string, update: StatusUpdate): Promise<number | null> {
    return new Promise((resolve) => {
      let batch = this.statusBatches.get(phoneNumberId);
      if (!batch) {
        const opened: StatusBatch = { updates: [], waiters: [] };
        batch = opened;
        this.statusBatches.set(phoneNumberId, opened);
        void this.sleep(this.config.statusBatchMs).then((due) => {
          if (this.statusBatches.get(phoneNumberId) === opened) this.statusBatches.delete(phoneNumberId);
          if (due) this.flushStatuses(phoneNumberId, opened);
          else for (const w of opened.waiters) w(null);
        });
      }
      batch.updates.push(update);
      batch.waiters.push(resolve);
      if (batch.updates.length >= 100) {
        this.statusBatches.delete(phoneNumberId);
        this.flushStatuses(phoneNumberId, batch);
      }
    });
  }

  private flushStatuses(phoneNumberId: string, batch: StatusBatch): void {
    if (batch.updates.length === 0) return;
    const updates = batch.updates.splice(0);
    const waiters = batch.waiters.splice(0);
    const payload = buildStatusesPayload(this.businessNumber(phoneNumberId), updates);
    void this.deliverWebhook("status", phoneNumberId, payload).done.then((status) => {
      for (const w of waiters) w(status);
    });
  }

  /** Cancels pending status webhooks, retries and held requests. */
  cancelPending(): void {
    for (const cancel of [...this.cancellers]) cancel();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  reset(): void {
    this.cancelPending();
    this.config = resolveConfig(this.options);
    this.clockOffsetMs = 0;
    this.sent.length = 0;
    this.inbound.length = 0;
    this.reads.length = 0;
    this.deliveries.length = 0;
    this.media.clear();
    this.faults = [];
    this.profiles.clear();
    this.windows.clear();
    this.throughput.clear();
    this.pairBuckets.clear();
    this.stats.clear();
    this.bizOpaqueSeen.clear();
    this.conversations.clear();
    this.statusBatches.clear();
    this.seedTemplates();
  }
}

/** Statuses of one number waiting for their joint webhook, and who waits for its answer. */
type StatusBatch = { updates: StatusUpdate[]; waiters: ((status: number | null) => void)[] };

function pushBounded<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_LOG_ENTRIES) list.splice(0, list.length - MAX_LOG_ENTRIES);
}
