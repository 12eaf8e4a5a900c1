/** Meta Graph API (WhatsApp Cloud API) client. Kanal reaches it only through WHATSAPP_API_BASE_URL. */
import { STATUS_CODES } from "node:http";
import { Agent, request } from "undici";

interface GraphErrorBody {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    error_data?: { details?: string };
    is_transient?: boolean;
    fbtrace_id?: string;
  };
}

/** How dispatch reacts to a Graph error code (whatsapp/README.md, "Errors"). */
export type GraphErrorClass = "throughput" | "pair_rate" | "token_invalid" | "permanent" | "transient";

export function classifyGraphError(
  status: number,
  code: number | undefined,
  transientFlag = false,
): GraphErrorClass {
  if (transientFlag) return "transient";
  if (code === 130429 || code === 80007) return "throughput";
  if (code === 131056) return "pair_rate";
  if (code === 190) return "token_invalid";
  if (
    code !== undefined &&
    [131047, 131026, 131048, 131049, 131051, 132000, 132001, 100, 131008, 131009, 131021].includes(code)
  ) {
    return "permanent";
  }
  if (status >= 500 || status === 429 || status === 408) return "transient";
  return status >= 400 && code !== undefined ? "permanent" : "transient";
}

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    readonly title: string,
    readonly details: string | undefined,
    readonly transient = false,
  ) {
    super(`Graph API ${status}${code ? ` (#${code})` : ""}: ${title}`);
    this.name = "GraphError";
  }
  get kind(): GraphErrorClass {
    return classifyGraphError(this.status, this.code, this.transient);
  }
}

interface GraphClientOptions {
  baseUrl: string;
  version: string;
  timeoutMs?: number;
  /**
   * Keep-alive connections to the Graph API at most (default 64, docs/BENCHMARKS.md §4): a burst of
   * sends queues for a connection instead of opening hundreds at once.
   */
  connections?: number;
}

interface SendResult {
  wamid: string;
}

/** A template as the Graph API lists it (whatsapp/README.md, "Message templates"). */
export interface GraphTemplate {
  id?: string;
  name?: string;
  language?: string;
  status?: string;
  category?: string;
  parameter_format?: string;
  rejected_reason?: string;
  components?: Record<string, unknown>[];
}

interface TemplatePage {
  data?: GraphTemplate[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string };
}

export class GraphClient {
  private readonly dispatcher: Agent;
  constructor(private readonly options: GraphClientOptions) {
    this.dispatcher = new Agent({ connections: options.connections ?? 64 });
  }

  private url(path: string): string {
    return `${this.options.baseUrl.replace(/\/$/, "")}/${this.options.version}/${path}`;
  }

  private async call<T>(method: string, url: string, token: string, body?: unknown): Promise<T> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    let status: number;
    let text: string;
    try {
      // undici's request, not fetch: the same connection pool without a web Request, Response and
      // AbortSignal per call, which were most of the worker's CPU per send.
      const res = await request(url, {
        dispatcher: this.dispatcher,
        method: method as "GET" | "POST",
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (error) {
      // Timeouts and connection errors are transient: retried with backoff.
      const code = (error as { code?: string }).code ?? "";
      throw new GraphError(0, undefined, /TIMEOUT/.test(code) ? "timeout" : "network error", undefined);
    }
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = {};
    }
    if (status < 200 || status >= 300) {
      const e = (parsed as GraphErrorBody).error;
      throw new GraphError(
        status,
        e?.code,
        e?.message ?? (STATUS_CODES[status] || `HTTP ${status}`),
        e?.error_data?.details,
        e?.is_transient === true,
      );
    }
    return parsed as T;
  }

  async sendMessage(
    phoneNumberId: string,
    token: string,
    payload: Record<string, unknown>,
  ): Promise<SendResult> {
    const body = await this.call<{ messages?: { id: string }[] }>(
      "POST",
      this.url(`${phoneNumberId}/messages`),
      token,
      {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        ...payload,
      },
    );
    const wamid = body.messages?.[0]?.id;
    if (!wamid) throw new GraphError(502, undefined, "send answered without a message id", undefined);
    return { wamid };
  }

  async markRead(phoneNumberId: string, token: string, wamid: string): Promise<void> {
    await this.call("POST", this.url(`${phoneNumberId}/messages`), token, {
      messaging_product: "whatsapp",
      status: "read",
      message_id: wamid,
    });
  }

  async getMedia(mediaId: string, token: string) {
    return this.call<{ url: string; mime_type?: string; sha256?: string; file_size?: number; id: string }>(
      "GET",
      this.url(mediaId),
      token,
    );
  }

  /** Media URLs expire after 5 minutes and need the same bearer token. */
  async download(
    url: string,
    token: string,
    maxBytes = 20 * 1024 * 1024,
  ): Promise<{ bytes: Buffer; contentType: string | null }> {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    }).catch((error: Error) => {
      throw new GraphError(
        0,
        undefined,
        error.name === "TimeoutError" ? "timeout" : "network error",
        undefined,
      );
    });
    if (!res.ok) throw new GraphError(res.status, undefined, `media download ${res.status}`, undefined);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > maxBytes) throw new GraphError(413, 100, "media larger than allowed", undefined);
    return { bytes, contentType: res.headers.get("content-type") };
  }

  /** One page of a WhatsApp Business Account's message templates (`after`: the previous page's cursor). */
  async listTemplates(wabaId: string, token: string, after?: string): Promise<TemplatePage> {
    const query = new URLSearchParams({ limit: "100", ...(after && { after }) });
    return this.call<TemplatePage>("GET", `${this.url(`${wabaId}/message_templates`)}?${query}`, token);
  }

  async getBusinessProfile(phoneNumberId: string, token: string) {
    const fields = "about,address,description,email,profile_picture_url,websites,vertical";
    const body = await this.call<{ data?: Record<string, unknown>[] }>(
      "GET",
      `${this.url(`${phoneNumberId}/whatsapp_business_profile`)}?fields=${fields}`,
      token,
    );
    return body.data?.[0] ?? {};
  }

  async updateBusinessProfile(
    phoneNumberId: string,
    token: string,
    profile: Record<string, unknown>,
  ): Promise<void> {
    await this.call("POST", this.url(`${phoneNumberId}/whatsapp_business_profile`), token, {
      messaging_product: "whatsapp",
      ...profile,
    });
  }
}
