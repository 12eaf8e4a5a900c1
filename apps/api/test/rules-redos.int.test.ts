/**
 * ReDoS through the API: a bank admin saves adversarial patterns and checks a crafted 4,096-character
 * message. Each pattern is refused with a German field error, or accepted and harmless; the check answers
 * fast and the API keeps answering meanwhile.
 *
 * On the old engine (JS RegExp) the accepted patterns `(a|a)*b`, `((a+))+b`, `(?:a|aa)+b` and
 * `a*a*a*a*a*a*b` made `POST …/rules/check` with 4,096 × "a" run for hours on the event loop: the check
 * never answered and neither did /healthz.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Bank,
  onboardBank,
  providerClient,
  startTestSystem,
  TestClient,
  type TestSystem,
  unique,
} from "../../../test/support/system";

let system: TestSystem;
let bank: Bank;
let anonymous: TestClient;

type Fields = { error: { code: string; fields?: Array<{ path: string; message: string }> } };
type Check = { winner: { ruleId: string }; draft: boolean };

/** Bounds for the whole request (session, Postgres, classification) on a loaded CI machine. */
const CHECK_BOUND_MS = 2_000;
const HEALTH_BOUND_MS = 500;

const ACCEPTED = [
  "(a|a)*b",
  "((a+))+b",
  "(?:a|aa)+b",
  "a*a*a*a*a*a*b",
  "((x+x+))+y",
  "(a|aa)+$",
  "(.*a){12}",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
];
const REFUSED: Array<[string, RegExp]> = [
  ["(\\w+\\s?)*$", /leeren Text/],
  ["(a+)+$", /Verschachtelte Wiederholungen/],
  ["(a)\\1", /Rückverweise/],
  ["\\bkonto(?!auszug)\\w*", /Vorausschau/],
  ["(?<=giro)konto", /Rückschau/],
  [".{0,1000}.{0,1000}.{0,1000}!", /zu aufwendig/],
];
const MESSAGES = ["a".repeat(4096), `${"a".repeat(4095)}!`, "a ".repeat(2048), "ä".repeat(4096)];

const rule = (id: string, patterns: string[]) => ({
  id,
  topic: `Muster ${id}`,
  keywords: [],
  patterns,
  priority: 40,
  handling: "ksc_allowed",
  allowedDataClasses: [],
  freeTextAllowed: true,
  action: { type: "answer" },
  guidance: "",
});

/**
 * Runs `request` and, while it is in flight, keeps asking /healthz. Returns how long the request took and
 * the slowest health answer: a classification that blocked the event loop would show in both.
 */
async function withHealthProbe<T>(
  request: () => Promise<T>,
): Promise<{ result: T; ms: number; health: number }> {
  let done = false;
  let slowestHealth = 0;
  const probe = (async () => {
    do {
      const started = performance.now();
      const res = await anonymous.get("/healthz");
      expect(res.status).toBe(200);
      slowestHealth = Math.max(slowestHealth, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 1));
    } while (!done);
  })();
  const started = performance.now();
  const result = await request();
  const ms = performance.now() - started;
  done = true;
  await probe;
  return { result, ms, health: slowestHealth };
}

beforeAll(async () => {
  system = await startTestSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  anonymous = new TestClient(system.app);
});
afterAll(() => system.close());

describe("adversarial rule patterns through the API", () => {
  const path = () => `/v1/tenants/${bank.slug}/rules`;

  it.each(REFUSED)("refuses %s at save time with the field and a German reason", async (pattern, reason) => {
    const res = await bank.admin.post<Fields>(path(), rule(unique("r"), ["sparbuch", pattern]));
    expect(res.status).toBe(400);
    const field = res.body.error.fields?.find((f) => f.path === "patterns.1");
    expect(field?.message).toMatch(reason);
  });

  it("accepts the nested repetitions the old check let through; they are harmless now", async () => {
    for (const pattern of ACCEPTED) {
      const res = await bank.admin.post(path(), rule(unique("r"), [pattern]));
      expect(res.status, pattern).toBe(201);
    }
  });

  it("checks a crafted 4,096-character message against the published book fast, /healthz keeps answering", async () => {
    for (const text of MESSAGES) {
      const { result, ms, health } = await withHealthProbe(() =>
        bank.admin.post<Check>(`${path()}/check`, { text }),
      );
      expect(result.status).toBe(200);
      expect(result.body.draft).toBe(false);
      expect(ms).toBeLessThan(CHECK_BOUND_MS);
      expect(health).toBeLessThan(HEALTH_BOUND_MS);
    }
  });

  it("checks draft patterns the same way: refused with the field, or fast", async () => {
    const book = (await bank.admin.get<{ rules: unknown[] }>(path())).body;
    const refused = await bank.admin.post<Fields>(`${path()}/check`, {
      text: "a".repeat(4096),
      rules: [...book.rules, rule("entwurf", ["(a)\\1b"])],
    });
    expect(refused.status).toBe(400);
    expect(
      refused.body.error.fields?.find((f) => f.path === `rules.${book.rules.length}.patterns.0`)?.message,
    ).toMatch(/Rückverweise/);

    const draftRules = [...book.rules, ...ACCEPTED.map((pattern, i) => rule(`entwurf-${i}`, [`${pattern}`]))];
    for (const text of MESSAGES) {
      const { result, ms, health } = await withHealthProbe(() =>
        bank.admin.post<Check>(`${path()}/check`, { text, rules: draftRules }),
      );
      expect(result.status).toBe(200);
      expect(result.body.draft).toBe(true);
      expect(ms).toBeLessThan(CHECK_BOUND_MS);
      expect(health).toBeLessThan(HEALTH_BOUND_MS);
    }
  });
});
