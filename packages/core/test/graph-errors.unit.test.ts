import { describe, expect, it } from "vitest";
import { classifyGraphError } from "../src/channel/graph";

describe("classifyGraphError", () => {
  it.each([
    [429, 130429, "throughput"],
    [400, 80007, "throughput"],
    [400, 131056, "pair_rate"],
    [401, 190, "token_invalid"],
    [400, 131047, "permanent"],
    [400, 131026, "permanent"],
    [400, 132000, "permanent"],
    [400, 132001, "permanent"],
    [400, 100, "permanent"],
    [500, 131000, "transient"],
    [503, undefined, "transient"],
    [0, undefined, "transient"],
  ] as const)("HTTP %s with code %s is %s", (status, code, expected) => {
    expect(classifyGraphError(status, code)).toBe(expected);
  });

  it("trusts Meta's is_transient flag", () => {
    expect(classifyGraphError(400, 131049, true)).toBe("transient");
  });
});
