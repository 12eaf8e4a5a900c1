import { describe, expect, it } from "vitest";
import { billingStatusOf } from "../src/billing/setup";
import { stripeClient } from "../src/billing/stripe";
import { calendarMonth } from "../src/billing/usage";

describe("calendarMonth", () => {
  it("is the bank's local month, across the change to summer time", () => {
    const { from, to } = calendarMonth(new Date("2026-03-15T12:00:00Z"), "Europe/Berlin");
    expect(from.toISOString()).toBe("2026-02-28T23:00:00.000Z"); // 1 March 00:00 CET
    expect(to.toISOString()).toBe("2026-03-31T22:00:00.000Z"); // 1 April 00:00 CEST
  });

  it("puts the last hour of a month in Berlin into that month, not the next (UTC) one", () => {
    const late = new Date("2026-10-31T22:30:00Z"); // 31 Oct 23:30 CET
    expect(calendarMonth(late, "Europe/Berlin").from.toISOString()).toBe("2026-09-30T22:00:00.000Z");
  });

  it("takes an explicit YYYY-MM, including December into January", () => {
    const { from, to } = calendarMonth(new Date(), "Europe/Berlin", "2026-12");
    expect(from.toISOString()).toBe("2026-11-30T23:00:00.000Z");
    expect(to.toISOString()).toBe("2026-12-31T23:00:00.000Z");
  });
});

describe("billingStatusOf", () => {
  it("maps Stripe's subscription states to what the console shows", () => {
    expect(billingStatusOf("active")).toBe("active");
    expect(billingStatusOf("trialing")).toBe("active");
    expect(billingStatusOf("past_due")).toBe("past_due");
    expect(billingStatusOf("unpaid")).toBe("past_due");
    expect(billingStatusOf("canceled")).toBe("canceled");
    expect(billingStatusOf("incomplete")).toBe("incomplete");
  });
});

describe("stripeClient", () => {
  it("is off without a key and points at STRIPE_API_BASE_URL when given", () => {
    expect(stripeClient({ STRIPE_SECRET_KEY: undefined, STRIPE_API_BASE_URL: undefined })).toBeNull();
    expect(stripeClient({ STRIPE_SECRET_KEY: "", STRIPE_API_BASE_URL: undefined })).toBeNull();
    const config = { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_API_BASE_URL: "http://127.0.0.1:12111" };
    const client = stripeClient(config);
    expect(client).not.toBeNull();
    expect(stripeClient(config)).toBe(client); // one client per configuration
  });
});
