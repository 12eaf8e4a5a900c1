import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GraphClient, type GraphError } from "../src/channel/graph";

/** A tiny local Graph stand-in: each path answers one way. */
let server: Server;
let base = "";
const seen: { auth?: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      seen.push({ auth: req.headers.authorization, body });
      if (req.url?.includes("/ok/")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ messages: [{ id: "wamid.OK" }] }));
      } else if (req.url?.includes("/window/")) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: 131047, message: "Re-engagement message" } }));
      } else if (req.url?.includes("/down/")) {
        res.writeHead(503);
        res.end();
      }
      // "/hang/": never answers.
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const client = () => new GraphClient({ baseUrl: base, version: "v21.0", timeoutMs: 300 });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a GraphError");
    },
    (e: unknown) => e as GraphError,
  );

describe("GraphClient over HTTP", () => {
  it("sends JSON with the bearer token and returns the wamid", async () => {
    expect(await client().sendMessage("ok", "tok-1", { to: "49170", type: "text" })).toEqual({
      wamid: "wamid.OK",
    });
    expect(seen.at(-1)?.auth).toBe("Bearer tok-1");
    expect(JSON.parse(seen.at(-1)?.body ?? "{}")).toMatchObject({
      messaging_product: "whatsapp",
      to: "49170",
    });
  });

  it("classifies Meta's error body, a 5xx, a timeout and a refused connection", async () => {
    const permanent = await failure(client().sendMessage("window", "t", {}));
    expect([permanent.status, permanent.code, permanent.kind, permanent.title]).toEqual([
      400,
      131047,
      "permanent",
      "Re-engagement message",
    ]);
    const down = await failure(client().sendMessage("down", "t", {}));
    expect([down.status, down.kind]).toEqual([503, "transient"]);
    const hang = await failure(client().sendMessage("hang", "t", {}));
    expect([hang.status, hang.title, hang.kind]).toEqual([0, "timeout", "transient"]);
    const refused = new GraphClient({ baseUrl: "http://127.0.0.1:1", version: "v21.0", timeoutMs: 300 });
    const network = await failure(refused.sendMessage("x", "t", {}));
    expect([network.status, network.title, network.kind]).toEqual([0, "network error", "transient"]);
  });
});
