import { describe, expect, it } from "vitest";
import { randomHex } from "../src/random";

describe("randomHex", () => {
  it("gives hex of the asked length, different every time, across pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const hex = randomHex(9);
      expect(hex).toMatch(/^[0-9a-f]{18}$/);
      seen.add(hex);
    }
    expect(seen.size).toBe(10_000);
  });
});
