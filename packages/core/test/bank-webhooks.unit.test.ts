import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { privateAddress } from "../src/bank-webhooks/endpoints";
import { publicOnlyLookup, signatures } from "../src/bank-webhooks/deliver";

// Where Kanal may post a bank's events in production: never into its own network (SSRF), also not
// through a name that resolves there.

describe("privateAddress", () => {
  it.each([
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.178.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "fd00::1",
    "fe80::1",
    "::ffff:10.0.0.1",
  ])("refuses %s", (address) => {
    expect(privateAddress(address)).toBe(true);
  });

  it.each(["8.8.8.8", "172.32.0.1", "100.128.0.1", "193.0.0.1", "2a00:1450:4001::1"])(
    "allows %s",
    (address) => {
      expect(privateAddress(address)).toBe(false);
    },
  );
});

describe("publicOnlyLookup", () => {
  const resolve = (host: string, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((done) =>
      publicOnlyLookup(host, { all }, (error, address) => done({ error, address })),
    );

  it("refuses a name that resolves to loopback, whether net asks for one address or all", async () => {
    for (const all of [false, true]) {
      const { error } = await resolve("localhost", all);
      expect(error?.code).toBe("EPRIVATE");
    }
  });

  it("refuses a private IP literal", async () => {
    expect((await resolve("10.0.0.7", false)).error?.code).toBe("EPRIVATE");
  });

  it("answers a public address the way net.connect asked for it", async () => {
    const one = await resolve("8.8.8.8", false);
    expect(one.error).toBeNull();
    expect(one.address).toBe("8.8.8.8");
    const all = await resolve("8.8.8.8", true);
    expect(all.address).toEqual([{ address: "8.8.8.8", family: 4 }]);
  });
});

describe("signatures", () => {
  it("during a rotation the header carries one v1 signature per secret, and a receiver holding either verifies", () => {
    const previous = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const current = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
    const body = JSON.stringify({ type: "message.received", timestamp: new Date().toISOString(), data: {} });
    const at = new Date();
    const header = signatures([current, previous], "whd_test", at, body);
    expect(header.split(" ")).toHaveLength(2);
    for (const part of header.split(" ")) expect(part).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const headers = {
      "webhook-id": "whd_test",
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": header,
    };
    for (const secret of [previous, current])
      expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: "message.received" });
    const stranger = `whsec_${Buffer.alloc(32, 1).toString("base64")}`;
    expect(() => new Webhook(stranger).verify(body, headers)).toThrow();
  });
});
