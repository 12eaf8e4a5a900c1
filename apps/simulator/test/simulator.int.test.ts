import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RunningSimulator, Simulator } from "../src/index";
import { createSimulator } from "../src/index";

const APP_SECRET = "test-app-secret";
const NUMBER = "106540352242922";
const OTHER_NUMBER = "206540352242933";
const CUSTOMER = "4917612345678";
const TOKEN = "EAAG-test-token";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8"));
}

/** Replaces every leaf by its type, so two payloads compare by shape, not by values. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shapeOf(inner)]));
  }
  return typeof value;
}

interface ReceivedWebhook {
  raw: string;
  signature: string;
  body: WebhookBody;
}

interface WebhookBody {
  entry: Array<{ changes: Array<{ value: WebhookValue }> }>;
}

interface WebhookValue {
  metadata: { phone_number_id: string };
  messages?: Array<Record<string, unknown> & { id: string; type: string }>;
  statuses?: Array<{ id: string; status: string; biz_opaque_callback_data?: string }>;
}

function changeValue(webhook: ReceivedWebhook): WebhookValue {
  const value = webhook.body.entry[0]?.changes[0]?.value;
  if (!value) throw new Error(`webhook without entry[0].changes[0].value: ${webhook.raw}`);
  return value;
}

function signatureIsValid(raw: string, header: string, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(raw).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Stands in for Kanal's POST /webhooks/whatsapp. */
class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  answerStatus = 200;
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        this.received.push({
          raw,
          signature: String(request.headers["x-hub-signature-256"] ?? ""),
          body: JSON.parse(raw),
        });
        response.writeHead(this.answerStatus).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/webhooks/whatsapp`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  statusesFor(wamid: string): Array<{ webhook: ReceivedWebhook; status: string }> {
    return this.received.flatMap((webhook) =>
      (changeValue(webhook).statuses ?? [])
        .filter((status) => status.id === wamid)
        .map((status) => ({ webhook, status: status.status })),
    );
  }

  async waitFor<T>(find: () => T | undefined, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = find();
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error("timed out waiting for a webhook");
  }
}

let simulator: Simulator;
let running: RunningSimulator;
let base = "";
const receiver = new WebhookReceiver();

async function call(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = TOKEN,
): Promise<{ status: number; json: Record<string, unknown> & { error?: Record<string, unknown> } }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: await response.json() };
}

function sendText(
  to = CUSTOMER,
  extra: Record<string, unknown> = {},
  number = NUMBER,
  token: string | null = TOKEN,
) {
  return call(
    "POST",
    `/v21.0/${number}/messages`,
    {
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to,
      type: "text",
      text: { body: "Hallo" },
      ...extra,
    },
    token,
  );
}

function sendTemplate(to = CUSTOMER) {
  return call("POST", `/v21.0/${NUMBER}/messages`, {
    messaging_product: "whatsapp",
    to,
    type: "template",
    template: { name: "termin_erinnerung", language: { code: "de" } },
  });
}

function wamidOf(json: Record<string, unknown>): string {
  const messages = json.messages as Array<{ id: string }> | undefined;
  const id = messages?.[0]?.id;
  if (!id) throw new Error(`no wamid in ${JSON.stringify(json)}`);
  return id;
}

beforeAll(async () => {
  await receiver.start();
  simulator = createSimulator({ webhookUrl: receiver.url, appSecret: APP_SECRET });
  running = await simulator.listen(0);
  base = `http://127.0.0.1:${running.port}`;
});

afterAll(async () => {
  await running.close();
  await receiver.stop();
});

beforeEach(async () => {
  await call("POST", "/_sim/reset", {});
  // Status webhooks stay out of the way unless a test asks for them.
  await call("POST", "/_sim/config", { statusDelayMs: 60_000, webhookMaxAttempts: 1 });
  receiver.received.length = 0;
  receiver.answerStatus = 200;
});

describe("inbound webhooks", () => {
  it("sends Kanal a Meta-shaped, correctly signed text webhook and opens the window", async () => {
    const { status, json } = await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      name: "Sheena Nelson",
      text: "Does it come in another color?",
    });
    expect(status).toBe(200);
    expect(json.webhookStatus).toBe(200);
    const webhook = receiver.received[0];
    if (!webhook) throw new Error("no webhook received");
    expect(shapeOf(webhook.body)).toEqual(shapeOf(fixture("inbound-text")));
    expect(signatureIsValid(webhook.raw, webhook.signature, APP_SECRET)).toBe(true);
    expect(signatureIsValid(webhook.raw, webhook.signature, "another-secret")).toBe(false);
    const message = changeValue(webhook).messages?.[0];
    expect(message?.id).toBe(json.wamid);
    expect(message?.text).toEqual({ body: "Does it come in another color?" });

    // The window is open now: a free-form reply is accepted.
    expect((await sendText()).status).toBe(200);
  });

  it("builds document and button-reply webhooks like Meta's examples", async () => {
    await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      type: "document",
      text: "my receipt",
      filename: "receipt.pdf",
    });
    await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      type: "interactive",
      text: "Cancel",
      buttonId: "cancel-button",
      contextId: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
    });
    const [documentHook, buttonHook] = receiver.received;
    if (!documentHook || !buttonHook) throw new Error("webhooks missing");
    expect(shapeOf(documentHook.body)).toEqual(shapeOf(fixture("inbound-document")));
    expect(shapeOf(buttonHook.body)).toEqual(shapeOf(fixture("inbound-button-reply")));
    expect(changeValue(buttonHook).messages?.[0]?.interactive).toEqual({
      type: "button_reply",
      button_reply: { id: "cancel-button", title: "Cancel" },
    });
  });

  it("reports Kanal's non-200 answer and retries the delivery", async () => {
    await call("POST", "/_sim/config", { webhookMaxAttempts: 3, webhookRetryBaseMs: 20 });
    receiver.answerStatus = 500;
    const { json } = await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      text: "Hallo",
    });
    expect(json.webhookStatus).toBe(500);
    await receiver.waitFor(() => (receiver.received.length >= 3 ? true : undefined));
    const ids = receiver.received.map((webhook) => changeValue(webhook).messages?.[0]?.id);
    expect(new Set(ids)).toEqual(new Set([json.wamid]));
  });
});

describe("sending", () => {
  it("rejects a missing or wrong token with error 190", async () => {
    const missing = await sendText(CUSTOMER, {}, NUMBER, null);
    expect(missing.status).toBe(401);
    expect(missing.json.error?.code).toBe(190);

    await call("POST", "/_sim/config", { numbers: { [NUMBER]: { accessToken: "right-token" } } });
    await call("POST", "/_sim/window", { phoneNumberId: NUMBER, waId: CUSTOMER });
    const wrong = await sendText(CUSTOMER, {}, NUMBER, "wrong-token");
    expect(wrong.status).toBe(401);
    expect(wrong.json.error?.code).toBe(190);
    expect((await sendText(CUSTOMER, {}, NUMBER, "right-token")).status).toBe(200);
  });

  it("answers an accepted send in Meta's shape and records it with its token", async () => {
    await call("POST", "/_sim/window", { phoneNumberId: NUMBER, waId: CUSTOMER });
    const { status, json } = await sendText(`+${CUSTOMER}`);
    expect(status).toBe(200);
    const wamid = wamidOf(json);
    expect(json).toEqual({
      messaging_product: "whatsapp",
      contacts: [{ input: `+${CUSTOMER}`, wa_id: CUSTOMER }],
      messages: [{ id: wamid }],
    });
    expect(wamid).toMatch(/^wamid\./);
    const sent = await call("GET", `/_sim/sent?to=${CUSTOMER}&phoneNumberId=${NUMBER}`);
    const messages = sent.json.messages as Array<Record<string, unknown>>;
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ wamid, token: TOKEN, waId: CUSTOMER, type: "text" });
    expect(messages[0]?.body).toMatchObject({ text: { body: "Hallo" } });
  });

  it("rejects invalid messages with error 100", async () => {
    await call("POST", "/_sim/window", { phoneNumberId: NUMBER, waId: CUSTOMER });
    const buttons = (titles: string[]) => ({
      messaging_product: "whatsapp",
      to: CUSTOMER,
      type: "interactive",
      interactive: {
        type: "button",
        body: { text: "Wie können wir helfen?" },
        action: {
          buttons: titles.map((title, index) => ({ type: "reply", reply: { id: `b${index}`, title } })),
        },
      },
    });
    const tooMany = await call("POST", `/v21.0/${NUMBER}/messages`, buttons(["A", "B", "C", "D"]));
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error?.code).toBe(100);
    const tooLong = await call(
      "POST",
      `/v21.0/${NUMBER}/messages`,
      buttons(["Ein viel zu langer Knopftitel"]),
    );
    expect(tooLong.json.error?.code).toBe(100);
    expect((await call("POST", `/v21.0/${NUMBER}/messages`, buttons(["Ja", "Nein", "Später"]))).status).toBe(
      200,
    );
  });

  it("marks messages read", async () => {
    const { status, json } = await call("POST", `/v21.0/${NUMBER}/messages`, {
      messaging_product: "whatsapp",
      status: "read",
      message_id: "wamid.incoming",
    });
    expect(status).toBe(200);
    expect(json).toEqual({ success: true });
    const reads = await call("GET", "/_sim/reads");
    expect(reads.json.reads).toMatchObject([{ phoneNumberId: NUMBER, messageId: "wamid.incoming" }]);
  });

  it("counts repeated biz_opaque_callback_data as duplicates", async () => {
    await call("POST", "/_sim/config", { enforceWindow: false });
    await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_1" });
    await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_1" });
    await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_2" });
    const stats = await call("GET", "/_sim/stats");
    expect(stats.json.duplicateBizOpaqueCallbackData).toEqual([{ bizOpaqueCallbackData: "msg_1", count: 2 }]);
    expect(stats.json.numbers).toMatchObject({ [NUMBER]: { accepted: 3, duplicatesByBizOpaque: 1 } });
  });
});

describe("24-hour customer service window", () => {
  it("refuses free-form messages outside the window with 131047 but allows templates", async () => {
    const closed = await sendText();
    expect(closed.status).toBe(400);
    expect(closed.json.error).toMatchObject({ code: 131047, type: "OAuthException" });
    expect((await sendTemplate()).status).toBe(200);
  });

  it("closes the window 24 hours after the customer's last message", async () => {
    await call("POST", "/_sim/inbound", { phoneNumberId: NUMBER, from: CUSTOMER, text: "Hallo" });
    await call("POST", "/_sim/clock", { offsetMs: 23 * 60 * 60 * 1000 });
    expect((await sendText()).status).toBe(200);
    await call("POST", "/_sim/clock", { offsetMs: 24 * 60 * 60 * 1000 + 1_000 });
    expect((await sendText()).json.error?.code).toBe(131047);
    // A new customer message renews it.
    await call("POST", "/_sim/inbound", { phoneNumberId: NUMBER, from: CUSTOMER, text: "Noch da?" });
    expect((await sendText()).status).toBe(200);
  });

  it("keeps windows per business number and can be switched off", async () => {
    await call("POST", "/_sim/window", { phoneNumberId: OTHER_NUMBER, waId: CUSTOMER });
    expect((await sendText()).json.error?.code).toBe(131047);
    await call("POST", "/_sim/config", { enforceWindow: false });
    expect((await sendText()).status).toBe(200);
  });
});

describe("status webhooks", () => {
  it("posts signed sent, delivered and read in order, echoing biz_opaque_callback_data", async () => {
    await call("POST", "/_sim/config", { statusDelayMs: 30 });
    await call("POST", "/_sim/window", { phoneNumberId: NUMBER, waId: CUSTOMER });
    const wamid = wamidOf((await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_42" })).json);
    const statuses = await receiver.waitFor(() => {
      const found = receiver.statusesFor(wamid);
      return found.length >= 3 ? found : undefined;
    });
    expect(statuses.map((entry) => entry.status)).toEqual(["sent", "delivered", "read"]);
    for (const { webhook } of statuses) {
      expect(signatureIsValid(webhook.raw, webhook.signature, APP_SECRET)).toBe(true);
      const status = changeValue(webhook).statuses?.[0];
      expect(status?.biz_opaque_callback_data).toBe("msg_42");
      expect(changeValue(webhook).metadata.phone_number_id).toBe(NUMBER);
    }
    const sentWebhook = statuses[0]?.webhook;
    if (!sentWebhook) throw new Error("no sent status");
    const { biz_opaque_callback_data: _echo, ...sentStatus } = changeValue(sentWebhook).statuses?.[0] ?? {};
    const expected = fixture("status-sent") as unknown as WebhookBody;
    expect(shapeOf(sentStatus)).toEqual(shapeOf(expected.entry[0]?.changes[0]?.value.statuses?.[0]));
  });

  it("with statusBatchMs, sends the statuses of one number due together in one signed webhook, each once", async () => {
    await call("POST", "/_sim/config", {
      statusDelayMs: 20,
      statusBatchMs: 150,
      sendRead: false,
      enforceWindow: false,
      pairRate: false,
    });
    const customers = ["4915100000011", "4915100000012", "4915100000013", "4915100000014"];
    const wamids = (await Promise.all(customers.map((to) => sendText(to)))).map((r) => wamidOf(r.json));
    await receiver.waitFor(() =>
      wamids.every((w) => receiver.statusesFor(w).length === 2) ? true : undefined,
    );
    const statusWebhooks = receiver.received.filter((w) => (changeValue(w).statuses ?? []).length > 0);
    // 8 statuses (sent and delivered of 4 messages) in far fewer webhooks than 8.
    expect(statusWebhooks.length).toBeLessThanOrEqual(4);
    expect(Math.max(...statusWebhooks.map((w) => changeValue(w).statuses?.length ?? 0))).toBeGreaterThan(1);
    for (const webhook of statusWebhooks)
      expect(signatureIsValid(webhook.raw, webhook.signature, APP_SECRET)).toBe(true);
    for (const wamid of wamids)
      expect(receiver.statusesFor(wamid).map((e) => e.status)).toEqual(["sent", "delivered"]);
  });

  it("stops after delivered when the customer does not read", async () => {
    await call("POST", "/_sim/config", { statusDelayMs: 20, sendRead: false, enforceWindow: false });
    const wamid = wamidOf((await sendText()).json);
    await receiver.waitFor(() => (receiver.statusesFor(wamid).length >= 2 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(receiver.statusesFor(wamid).map((entry) => entry.status)).toEqual(["sent", "delivered"]);
  });

  it("sends a failed status with errors on request", async () => {
    await call("POST", "/_sim/config", { enforceWindow: false });
    const wamid = wamidOf((await sendText()).json);
    const { json } = await call("POST", "/_sim/status", { wamid, status: "failed" });
    expect(json.webhookStatus).toBe(200);
    const failed = receiver.received.at(-1);
    if (!failed) throw new Error("no webhook");
    expect(changeValue(failed).statuses?.[0]).toMatchObject({
      id: wamid,
      status: "failed",
      errors: [{ code: 131049 }],
    });
  });
});

describe("throughput limit", () => {
  it("never accepts more than the number's limit in any one second, answering 130429 exactly", async () => {
    const limit = 20;
    await call("POST", "/_sim/config", {
      enforceWindow: false,
      pairRate: false,
      throughput: { [NUMBER]: limit },
    });
    const started = Date.now();
    const results: Array<{ status: number; json: Record<string, unknown> }> = [];
    // 8 waves of 25 concurrent sends, 250 ms apart: 100/s offered against 20/s; the first wave alone
    // exceeds the limit, so the busiest second reaches it however slowly the machine runs.
    for (let wave = 0; wave < 8; wave += 1) {
      const batch = Array.from({ length: 25 }, (_, index) =>
        sendText(`49151000${wave}${String(index).padStart(3, "0")}`),
      );
      results.push(...(await Promise.all(batch)));
      const nextWaveAt = started + (wave + 1) * 250;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextWaveAt - Date.now())));
    }
    const accepted = results.filter((result) => result.status === 200);
    const limited = results.filter((result) => result.status === 429);
    expect(accepted.length + limited.length).toBe(results.length);
    expect(accepted.length).toBeGreaterThanOrEqual(limit * 2);
    expect(limited.length).toBeGreaterThan(0);

    const rateLimitFixture = fixture("send-error-rate-limit") as { error: Record<string, unknown> };
    const { fbtrace_id: fbtrace, ...errorWithoutTrace } = (limited[0]?.json.error ?? {}) as Record<
      string,
      unknown
    >;
    const { fbtrace_id: _fixtureTrace, ...fixtureWithoutTrace } = rateLimitFixture.error;
    expect(errorWithoutTrace).toEqual(fixtureWithoutTrace);
    expect(typeof fbtrace).toBe("string");

    // Check the invariant from the accepted timestamps themselves, not only the simulator's own counter.
    const sent = await call("GET", `/_sim/sent?phoneNumberId=${NUMBER}`);
    const times = (sent.json.messages as Array<{ acceptedAtMs: number }>).map((m) => m.acceptedAtMs).sort();
    expect(times).toHaveLength(accepted.length);
    const busiestSecond = Math.max(
      ...times.map((start) => times.filter((t) => t >= start && t < start + 1000).length),
    );
    expect(busiestSecond).toBe(limit);

    const stats = await call("GET", "/_sim/stats");
    expect(stats.json.numbers).toMatchObject({
      [NUMBER]: {
        accepted: accepted.length,
        rejected: { "130429": limited.length },
        maxAcceptedPerSecond: limit,
      },
    });
  });

  it("limits each number on its own", async () => {
    await call("POST", "/_sim/config", {
      enforceWindow: false,
      pairRate: false,
      throughput: { [NUMBER]: 2 },
    });
    const first = await Promise.all([1, 2, 3].map((index) => sendText(`4915100000${index}`)));
    expect(first.map((result) => result.status)).toEqual([200, 200, 429]);
    expect((await sendText(CUSTOMER, {}, OTHER_NUMBER)).status).toBe(200);
  });
});

describe("pair rate limit", () => {
  it("allows a burst to one customer, then one per interval, answering 131056", async () => {
    await call("POST", "/_sim/config", { enforceWindow: false, pairRate: { burst: 3, intervalMs: 6_000 } });
    const burst = [await sendText(), await sendText(), await sendText()];
    expect(burst.map((result) => result.status)).toEqual([200, 200, 200]);
    const refused = await sendText();
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: 131056, type: "OAuthException" });
    // Another customer of the same bank is not affected.
    expect((await sendText("4917699999999")).status).toBe(200);
    // After one interval exactly one more message fits.
    await call("POST", "/_sim/clock", { offsetMs: 6_000 });
    expect((await sendText()).status).toBe(200);
    expect((await sendText()).json.error?.code).toBe(131056);
  });

  it("can be switched off", async () => {
    await call("POST", "/_sim/config", { enforceWindow: false, pairRate: false });
    const results = await Promise.all(Array.from({ length: 15 }, () => sendText()));
    expect(results.every((result) => result.status === 200)).toBe(true);
  });
});

describe("media", () => {
  it("serves inbound media metadata and bytes only with the bearer token", async () => {
    const inbound = await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      type: "image",
    });
    const mediaId = String(inbound.json.mediaId);
    expect(mediaId).toMatch(/^[0-9]{15}$/);

    expect((await call("GET", `/v21.0/${mediaId}`, undefined, null)).json.error?.code).toBe(190);
    const meta = await call("GET", `/v21.0/${mediaId}`);
    expect(meta.status).toBe(200);
    expect(Object.keys(meta.json)).toEqual([
      "messaging_product",
      "url",
      "mime_type",
      "sha256",
      "file_size",
      "id",
    ]);
    expect(meta.json).toMatchObject({ messaging_product: "whatsapp", mime_type: "image/png", id: mediaId });
    const webhookImage = changeValue(receiver.received[0] as ReceivedWebhook).messages?.[0]?.image as {
      sha256: string;
    };
    expect(meta.json.sha256).toBe(webhookImage.sha256);

    const url = String(meta.json.url);
    expect(url.startsWith(base)).toBe(true);
    expect((await fetch(url)).status).toBe(401);
    const download = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(meta.json.file_size);
    expect(createHash("sha256").update(bytes).digest("base64")).toBe(meta.json.sha256);
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");

    // Media URLs expire after five minutes.
    await call("POST", "/_sim/clock", { offsetMs: 6 * 60 * 1000 });
    expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it("serves a document whose filename is beyond Latin-1 with an RFC 5987 header", async () => {
    const inbound = await call("POST", "/_sim/inbound", {
      phoneNumberId: NUMBER,
      from: CUSTOMER,
      type: "document",
      filename: "Überweisung 💶.pdf",
    });
    const meta = await call("GET", `/v21.0/${String(inbound.json.mediaId)}`);
    const download = await fetch(String(meta.json.url), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toContain(
      `filename*=UTF-8''${encodeURIComponent("Überweisung 💶.pdf")}`,
    );
  });

  it("answers an unknown media id with error 100", async () => {
    const { status, json } = await call("GET", "/v21.0/999999999999999");
    expect(status).toBe(400);
    expect(json.error?.code).toBe(100);
  });
});

describe("business profile", () => {
  it("reads and updates the profile", async () => {
    const update = await call("POST", `/v21.0/${NUMBER}/whatsapp_business_profile`, {
      messaging_product: "whatsapp",
      about: "Servicezeiten Mo–Fr 8–18 Uhr",
      websites: ["https://raiffeisenbank.example"],
    });
    expect(update.json).toEqual({ success: true });
    const all = await call("GET", `/v21.0/${NUMBER}/whatsapp_business_profile`);
    const profile = (all.json.data as Array<Record<string, unknown>>)[0];
    expect(Object.keys(profile ?? {}).sort()).toEqual([
      "about",
      "address",
      "description",
      "email",
      "messaging_product",
      "profile_picture_url",
      "vertical",
      "websites",
    ]);
    expect(profile).toMatchObject({
      about: "Servicezeiten Mo–Fr 8–18 Uhr",
      websites: ["https://raiffeisenbank.example"],
    });
    const some = await call("GET", `/v21.0/${NUMBER}/whatsapp_business_profile?fields=about,email`);
    expect(Object.keys((some.json.data as Array<Record<string, unknown>>)[0] ?? {}).sort()).toEqual([
      "about",
      "email",
      "messaging_product",
    ]);
    const other = await call("GET", `/v21.0/${OTHER_NUMBER}/whatsapp_business_profile?fields=about`);
    expect(other.json.data).not.toEqual(some.json.data);
  });

  it("rejects an about text over 139 characters", async () => {
    const { status, json } = await call("POST", `/v21.0/${NUMBER}/whatsapp_business_profile`, {
      messaging_product: "whatsapp",
      about: "x".repeat(140),
    });
    expect(status).toBe(400);
    expect(json.error?.code).toBe(100);
  });
});

describe("fault injection", () => {
  beforeEach(async () => {
    await call("POST", "/_sim/config", { enforceWindow: false, pairRate: false, faultTimeoutMs: 200 });
  });

  it("fails the given number of sends with 5xx, then recovers", async () => {
    await call("POST", "/_sim/faults", { kind: "5xx", count: 2 });
    const statuses = [];
    for (let index = 0; index < 3; index += 1) statuses.push((await sendText()).status);
    expect(statuses).toEqual([500, 500, 200]);
  });

  it("injects token_expired, rate_limit and pair_rate for one number only", async () => {
    await call("POST", "/_sim/faults", { kind: "token_expired", phoneNumberId: NUMBER, count: 1 });
    await call("POST", "/_sim/faults", { kind: "rate_limit", phoneNumberId: NUMBER, count: 1 });
    await call("POST", "/_sim/faults", { kind: "pair_rate", phoneNumberId: NUMBER, count: 1 });
    expect((await sendText(CUSTOMER, {}, OTHER_NUMBER)).status).toBe(200);
    const expired = await sendText();
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatchObject({ code: 190, error_subcode: 463 });
    const limited = await sendText();
    expect(limited.status).toBe(429);
    expect(limited.json.error?.code).toBe(130429);
    expect((await sendText()).json.error?.code).toBe(131056);
    expect((await sendText()).status).toBe(200);
  });

  it("holds requests on timeout, optionally after accepting the message", async () => {
    await call("POST", "/_sim/faults", { kind: "timeout", count: 1 });
    const lost = await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_lost" });
    expect(lost.status).toBe(504);
    await call("POST", "/_sim/faults", { kind: "timeout", count: 1, acceptBeforeTimeout: true });
    const ambiguous = await sendText(CUSTOMER, { biz_opaque_callback_data: "msg_ambiguous" });
    expect(ambiguous.status).toBe(504);
    const sent = await call("GET", "/_sim/sent");
    const callbacks = (sent.json.messages as Array<{ bizOpaqueCallbackData?: string }>).map(
      (message) => message.bizOpaqueCallbackData,
    );
    expect(callbacks).toEqual(["msg_ambiguous"]);
  });

  it("clears faults on DELETE", async () => {
    await call("POST", "/_sim/faults", { kind: "5xx" });
    expect((await sendText()).status).toBe(500);
    expect((await sendText()).status).toBe(500);
    await call("DELETE", "/_sim/faults");
    expect((await sendText()).status).toBe(200);
  });

  it("delays answers by the configured latency", async () => {
    await call("POST", "/_sim/config", { latencyMs: 150 });
    const started = Date.now();
    await sendText();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe("customer phone page", () => {
  it("serves the page and its script without inline code or external assets", async () => {
    const page = await fetch(`${base}/`);
    const html = await page.text();
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(html).toContain('<script type="module" src="/phone.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain("Senden");
    const script = await fetch(`${base}/phone.js`);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(await script.text()).toContain("/_sim/inbound");
  });
});

describe("message templates", () => {
  const WABA = "102290129340398";

  it("lists a WABA's templates in Meta's shape, page by page, only with a token", async () => {
    for (let i = 0; i < 3; i++)
      await call("POST", "/_sim/templates", {
        wabaId: WABA,
        name: `vorlage_${i}`,
        body: "Guten Tag {{1}}",
        quickReplies: ["Ja", "Nein"],
        notify: false,
      });
    const first = await call("GET", `/v21.0/${WABA}/message_templates?limit=2`);
    expect(first.status).toBe(200);
    const data = first.json.data as Array<Record<string, unknown>>;
    expect(data.map((t) => t.name)).toEqual(["vorlage_0", "vorlage_1"]);
    expect(data[0]).toMatchObject({ language: "de", status: "APPROVED", category: "UTILITY" });
    const components = (data[0]?.components ?? []) as Array<{ type: string }>;
    expect(components.map((c) => c.type)).toEqual(["BODY", "BUTTONS"]);
    const paging = first.json.paging as { cursors: { after: string }; next?: string };
    expect(paging.next).toBeDefined();
    const second = await call(
      "GET",
      `/v21.0/${WABA}/message_templates?limit=2&after=${paging.cursors.after}`,
    );
    expect((second.json.data as Array<{ name: string }>).map((t) => t.name)).toEqual(["vorlage_2"]);
    expect((second.json.paging as { next?: string }).next).toBeUndefined();
    expect((await call("GET", `/v21.0/${WABA}/message_templates`, undefined, null)).json.error?.code).toBe(
      190,
    );
  });

  it("sends Meta's signed message_template_status_update webhook when a status changes", async () => {
    await call("POST", "/_sim/templates", {
      wabaId: WABA,
      name: "kartenumsatz",
      body: "Karte {{1}}",
      notify: false,
    });
    const paused = await call("POST", "/_sim/templates", {
      wabaId: WABA,
      name: "kartenumsatz",
      status: "PAUSED",
      reason: "LOW_QUALITY",
    });
    expect(paused.json.webhookStatus).toBe(200);
    const webhook = receiver.received.at(-1) as ReceivedWebhook;
    expect(signatureIsValid(webhook.raw, webhook.signature, APP_SECRET)).toBe(true);
    const entry = (
      JSON.parse(webhook.raw) as { entry: Array<{ id: string; changes: Array<Record<string, unknown>> }> }
    ).entry[0];
    expect(entry?.id).toBe(WABA);
    expect(entry?.changes[0]).toMatchObject({
      field: "message_template_status_update",
      value: {
        event: "PAUSED",
        message_template_name: "kartenumsatz",
        message_template_language: "de",
        reason: "LOW_QUALITY",
      },
    });
    // The same status again changes nothing and sends nothing.
    const count = receiver.received.length;
    await call("POST", "/_sim/templates", { wabaId: WABA, name: "kartenumsatz", status: "PAUSED" });
    expect(receiver.received.length).toBe(count);
  });
});
