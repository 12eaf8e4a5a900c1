import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import type { SimulatorOptions } from "./options";
import { messagesEndpoint, registerCloudApi } from "./routes/cloud-api";
import { registerPhonePage } from "./routes/phone-page";
import { registerTestSide } from "./routes/test-side";
import { SimulatorState } from "./state";

export interface RunningSimulator {
  port: number;
  /** Stops pending webhooks and held requests, then closes the server. */
  close(): Promise<void>;
}

export interface Simulator {
  app: Hono;
  state: SimulatorState;
  /** Listens on 127.0.0.1 by default; port 0 (the default) picks a free port. */
  listen(port?: number, hostname?: string): Promise<RunningSimulator>;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const state = new SimulatorState(options);
  const app = new Hono();
  registerPhonePage(app);
  registerTestSide(app, state);
  registerCloudApi(app, state);
  app.notFound((c) =>
    c.json(
      {
        error: {
          message: "Unknown path components",
          type: "OAuthException",
          code: 2500,
          fbtrace_id: "simulator",
        },
      },
      400,
    ),
  );

  const listen = (port = 0, hostname = "127.0.0.1"): Promise<RunningSimulator> =>
    new Promise((resolve, reject) => {
      const honoListener = getRequestListener(app.fetch, { hostname });
      // The send endpoint (thousands a second in the dispatch benchmark, on the same cores as Kanal) is
      // answered straight from Node's request, by the same code as its Hono route; the rest goes to Hono.
      const server = createServer((req, res) => {
        const match = req.method === "POST" ? MESSAGES_PATH.exec(req.url ?? "") : null;
        if (match?.[1]) void leanMessages(state, match[1], req, res);
        else void honoListener(req, res);
      });
      server.once("error", reject);
      server.listen(port, hostname, () => {
        const info = server.address() as AddressInfo;
        resolve({
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              state.cancelPending();
              server.close(() => done());
              server.closeAllConnections();
            }),
        });
      });
    });

  return { app, state, listen };
}

/** `POST /<version>/<phone_number_id>/messages`, the same route as Hono's (`/:version{v[0-9]+(?:\.[0-9]+)?}`). */
const MESSAGES_PATH = /^\/v[0-9]+(?:\.[0-9]+)?\/([^/?#]+)\/messages(?:\?.*)?$/;

/** The body as a JSON object, or undefined (not JSON, or not an object), as the Hono route reads it. */
function jsonObjectOf(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => resolve(undefined));
    req.on("end", () => {
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        resolve(
          typeof body === "object" && body !== null && !Array.isArray(body)
            ? (body as Record<string, unknown>)
            : undefined,
        );
      } catch {
        resolve(undefined);
      }
    });
  });
}

async function leanMessages(
  state: SimulatorState,
  rawPhoneNumberId: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const body = jsonObjectOf(req);
    const answer = await messagesEndpoint(
      state,
      decodeURIComponent(rawPhoneNumberId),
      req.headers.authorization,
      () => body,
    );
    const json = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(json),
    });
    res.end(json);
  } catch {
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=UTF-8" });
    res.end("Internal Server Error");
  }
}
