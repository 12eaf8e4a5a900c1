import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { SimulatorOptions } from "./options";
import { registerCloudApi } from "./routes/cloud-api";
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
      const server = serve({ fetch: app.fetch, port, hostname }, (info: AddressInfo) => {
        resolve({
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              state.cancelPending();
              server.close(() => done());
              if ("closeAllConnections" in server) server.closeAllConnections();
            }),
        });
      });
      server.once("error", reject);
    });

  return { app, state, listen };
}
