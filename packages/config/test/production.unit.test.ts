import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/index";

/** A production environment with every secret set: the baseline each case breaks one way. */
const production = {
  NODE_ENV: "production",
  SECRETS_KEY: Buffer.alloc(32, 7).toString("base64"),
  WHATSAPP_APP_SECRET: "meta-app-secret-from-the-vault",
  WHATSAPP_VERIFY_TOKEN: "verify-token-from-the-vault",
  PROVIDER_ADMIN_PASSWORD: "a-long-provider-password",
};

const refusal = (env: Record<string, string | undefined>): string => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("loadConfig accepted the configuration");
};

describe("production refuses the development defaults", () => {
  it("starts with every secret set", () => {
    expect(loadConfig(production).NODE_ENV).toBe("production");
  });

  it.each([
    ["WHATSAPP_APP_SECRET", "dev-app-secret"],
    ["WHATSAPP_VERIFY_TOKEN", "dev-verify-token"],
    ["PROVIDER_ADMIN_PASSWORD", "kanal-provider-admin"],
    ["SECRETS_KEY", "ZGV2LW9ubHkta2FuYWwtc2VjcmV0cy1rZXktMzJieXQ="],
  ])("refuses %s left unset or set to the dev value", (name, devValue) => {
    expect(refusal({ ...production, [name]: undefined })).toContain(name);
    expect(refusal({ ...production, [name]: devValue })).toContain(name);
  });

  it("names every problem at once", () => {
    const message = refusal({ NODE_ENV: "production" });
    for (const name of [
      "SECRETS_KEY",
      "WHATSAPP_APP_SECRET",
      "WHATSAPP_VERIFY_TOKEN",
      "PROVIDER_ADMIN_PASSWORD",
    ])
      expect(message).toContain(name);
  });

  it("refuses billing without the webhook secret, accepts it with one", () => {
    expect(refusal({ ...production, STRIPE_SECRET_KEY: "sk_live_x" })).toContain("STRIPE_WEBHOOK_SECRET");
    expect(
      loadConfig({ ...production, STRIPE_SECRET_KEY: "sk_live_x", STRIPE_WEBHOOK_SECRET: "whsec_x" })
        .STRIPE_WEBHOOK_SECRET,
    ).toBe("whsec_x");
  });

  it("keeps the dev defaults outside production", () => {
    const config = loadConfig({ NODE_ENV: "development" });
    expect(config.WHATSAPP_APP_SECRET).toBe("dev-app-secret");
    expect(loadConfig({ NODE_ENV: "test", STRIPE_SECRET_KEY: "sk_test_x" }).STRIPE_WEBHOOK_SECRET).toBe(
      undefined,
    );
  });
});

describe("TRUSTED_PROXIES", () => {
  it("accepts a hop count, addresses, CIDRs and range names; refuses anything else", () => {
    for (const value of ["1", "10.0.0.1", "10.0.0.0/8, fd00::/8", "loopback,uniquelocal"])
      expect(loadConfig({ TRUSTED_PROXIES: value }).TRUSTED_PROXIES).toBe(value);
    for (const value of ["proxy.example", "10.0.0.0/33", "1,2"])
      expect(() => loadConfig({ TRUSTED_PROXIES: value })).toThrow(ConfigError);
  });
});
