import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhookBody } from "@kanal/core/channel";
import type { AgentEventPayload } from "@kanal/contracts/events";
import { publishToUsers } from "@kanal/core/realtime";

/** The stream carries whatever payload it is given; this test uses small made-up ones. */
const raw = (type: AgentEventPayload["type"], data: Record<string, unknown>) =>
  ({ type, data }) as unknown as AgentEventPayload;
import { eventually, startFullSystem, type FullSystem } from "../../../test/support/full-system";
import {
  addBankUser,
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  uniqueDigits,
  type Bank,
} from "../../../test/support/system";

const logLines: string[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(chunk.toString());
    done();
  },
});

let system: FullSystem;
let bank: Bank;

beforeAll(async () => {
  system = await startFullSystem({ env: { LOG_LEVEL: "trace" }, logDestination: capture });
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(() => system.close());

describe("operations endpoints", () => {
  it("/healthz and /readyz answer; /readyz is 503 when Redis is gone", async () => {
    expect((await system.app.request("/healthz")).status).toBe(200);
    const ready = await system.app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ postgres: true, redis: true });
    const offline = await startTestSystem({ env: { REDIS_URL: "redis://127.0.0.1:1" } });
    try {
      const res = await offline.app.request("/readyz");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ postgres: true, redis: false });
    } finally {
      await offline.close();
    }
  });

  it("/metrics speaks Prometheus text with per-route request counts", async () => {
    await system.app.request("/healthz");
    const res = await system.app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/kanal_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain("process_resident_memory_bytes");
    expect(text).toContain("kanal_whatsapp_webhooks_total");
  });

  it("/openapi.json documents the public contract of API.md; /docs renders it without external assets", async () => {
    const doc = (await (await system.app.request("/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const contract: [string, string][] = [
      ["post", "/v1/auth/login"],
      ["post", "/v1/auth/logout"],
      ["get", "/v1/me"],
      ["put", "/v1/me/presence"],
      ["post", "/v1/tenants"],
      ["get", "/v1/tenants"],
      ["get", "/v1/tenants/{tenant}"],
      ["post", "/v1/ksc-orgs"],
      ["post", "/v1/ksc-orgs/{org}/agents"],
      ["put", "/v1/tenants/{tenant}/ksc"],
      ["get", "/v1/tenants/{tenant}/users"],
      ["post", "/v1/tenants/{tenant}/users"],
      ["patch", "/v1/tenants/{tenant}/users/{id}"],
      ["get", "/v1/tenants/{tenant}/routing"],
      ["put", "/v1/tenants/{tenant}/routing"],
      ["get", "/v1/tenants/{tenant}/snippets"],
      ["post", "/v1/tenants/{tenant}/snippets"],
      ["get", "/v1/tenants/{tenant}/rules"],
      ["post", "/v1/tenants/{tenant}/rules"],
      ["put", "/v1/tenants/{tenant}/customers/{externalRef}"],
      ["get", "/v1/tenants/{tenant}/customers"],
      ["get", "/v1/inbox"],
      ["get", "/v1/tenants/{tenant}/conversations"],
      ["get", "/v1/tenants/{tenant}/conversations/{id}"],
      ["post", "/v1/tenants/{tenant}/conversations/{id}/messages"],
      ["post", "/v1/tenants/{tenant}/conversations/{id}/handover"],
      ["post", "/v1/tenants/{tenant}/conversations/{id}/close"],
      ["post", "/v1/tenants/{tenant}/conversations/{id}/callback"],
      ["post", "/v1/tenants/{tenant}/conversations/{id}/customer"],
      ["get", "/webhooks/whatsapp"],
      ["post", "/webhooks/whatsapp"],
      ["get", "/v1/events"],
    ];
    for (const [method, path] of contract)
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const docs = await system.app.request("/docs");
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain("/v1/tenants");
    expect(html).not.toMatch(/<script[^>]+src="https?:/);
  });

  it("every answer carries a request id and our strict CSP; errors repeat the request id", async () => {
    // Outside /v1: an anonymous request for an unknown /v1 path is 401 like any other (security-auth-order).
    const res = await system.app.request("/nope");
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toBeTruthy();
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await res.json()).toEqual({ error: { code: "not_found", message: "No such route", requestId } });
  });
});

describe("logs", () => {
  it("never contain message texts, card numbers, passwords, tokens or session ids", async () => {
    const secretText = `Geheimtext-${uniqueDigits(6)}`;
    const card = "4111 1111 1111 1111";
    const agent = await addBankUser(system, bank, "bank_agent");
    await agent.client.login(agent.email, PASSWORD);
    await agent.client.request("POST", "/v1/auth/login", {
      email: agent.email,
      password: "wrong-password-value",
    });
    const waId = uniqueDigits(12);
    await system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: waId,
      name: "Log Kunde",
      // Right after other digits ("Geheimtext-123456 4111 …"): the card is still found among the groups.
      text: `${secretText} ${card}`,
    });
    const t = system.services.db.withSchema(bank.schema);
    const conversation = await eventually(async () =>
      t
        .selectFrom("conversations as c")
        .innerJoin("customers as cu", "cu.id", "c.customer_id")
        .select("c.id")
        .where("cu.wa_id", "=", waId)
        .executeTakeFirst(),
    );
    await t
      .updateTable("conversations")
      .set({ status: "open", assignee_user_id: agent.id, handled_by: "in_house", queue: null })
      .where("id", "=", conversation.id)
      .execute();
    const reply = `Antwort-Geheimnis-${uniqueDigits(6)}`;
    expect(
      (
        await agent.client.post(`/v1/tenants/${bank.slug}/conversations/${conversation.id}/messages`, {
          text: reply,
        })
      ).status,
    ).toBe(202);
    await eventually(
      async () =>
        (await t.selectFrom("messages").select("status").where("text", "=", reply).executeTakeFirst())
          ?.status === "read" || undefined,
    );
    // A malformed webhook (kept as dead letter) is logged without its body.
    const dead = `{"entry":[{"text":"${secretText}"`;
    await fetch(`${system.apiUrl}/webhooks/whatsapp`, {
      method: "POST",
      headers: { "x-hub-signature-256": signWebhookBody(dead, system.env.WHATSAPP_APP_SECRET as string) },
      body: dead,
    });

    const logs = logLines.join("");
    expect(logs.length).toBeGreaterThan(1_000);
    for (const forbidden of [
      secretText,
      reply,
      "4111",
      PASSWORD,
      "wrong-password-value",
      bank.accessToken,
      agent.client.cookie?.split("=")[1] ?? "no-cookie",
    ]) {
      expect(logs.includes(forbidden), `logs contain ${forbidden}`).toBe(false);
    }
    expect(logs).toContain('"msg":"request"');
  });
});

describe("GET /v1/events over HTTP", () => {
  it("streams ready, then the person's own events in order, and lets go of the subscription when the client leaves", async () => {
    const agent = await addBankUser(system, bank, "bank_agent");
    await agent.client.login(agent.email, PASSWORD);
    const other = await addBankUser(system, bank, "bank_agent");
    const controller = new AbortController();
    const res = await fetch(`${system.apiUrl}/v1/events`, {
      headers: { cookie: agent.client.cookie ?? "" },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(received)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        received += decoder.decode(value, { stream: true });
      }
    };
    await until(/event: ready/);
    expect(system.hub.connectionCount(agent.id)).toBe(1);
    await publishToUsers(
      system.services.redis,
      system.services.config.QUEUE_PREFIX,
      [other.id],
      raw("conversation.assigned", { n: 0 }),
    );
    await publishToUsers(
      system.services.redis,
      system.services.config.QUEUE_PREFIX,
      [agent.id],
      raw("conversation.assigned", { n: 1 }),
    );
    await publishToUsers(
      system.services.redis,
      system.services.config.QUEUE_PREFIX,
      [agent.id],
      raw("message.created", { n: 2 }),
    );
    await until(/event: message\.created\ndata: \{"n":2\}/);
    const frames = received.split("\n\n").filter((f) => f.includes("data:"));
    expect(frames.map((f) => /event: (\S+)/.exec(f)?.[1])).toEqual([
      "ready",
      "conversation.assigned",
      "message.created",
    ]);
    expect(frames[1]).toMatch(/^id: \d+-\d+\n/);
    controller.abort();
    await eventually(async () => system.hub.connectionCount(agent.id) === 0);
  });

  it("refuses a request without a session with 401 in the error shape", async () => {
    const res = await fetch(`${system.apiUrl}/v1/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
  });
});
