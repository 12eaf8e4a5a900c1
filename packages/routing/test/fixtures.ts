import { routingConfigSchema } from "../src/index";
import type { RoutingAgent, RoutingConfigInput, RoutingInput } from "../src/index";

/** Thursday 1 Oct 2026 10:00 CEST: inside Mon–Fri 08:00–18:00. */
export const INSIDE = new Date("2026-10-01T08:00:00Z");
/** Thursday 1 Oct 2026 20:00 CEST: after closing. */
export const OUTSIDE = new Date("2026-10-01T18:00:00Z");
/** Thursday 4 June 2026 10:00 CEST: Fronleichnam, a public holiday in Bavaria. */
export const HOLIDAY = new Date("2026-06-04T08:00:00Z");
/** Thursday 24 Dec 2026 10:00 CET: a closure day in `closures` below. */
export const CLOSURE = new Date("2026-12-24T09:00:00Z");

export function agent(
  userId: string,
  kind: RoutingAgent["kind"],
  overrides: Partial<RoutingAgent> = {},
): RoutingAgent {
  return {
    userId,
    kind,
    presence: "online",
    openCount: 0,
    maxChats: 5,
    lastAssignedAt: null,
    absent: false,
    deputyUserId: null,
    ...overrides,
  };
}

/** Two bank agents (b2 less loaded) and two KSC agents (k2 less loaded). */
export function standardAgents(): RoutingAgent[] {
  return [
    agent("b1", "bank", { openCount: 2 }),
    agent("b2", "bank", { openCount: 1 }),
    agent("k1", "ksc", { openCount: 3 }),
    agent("k2", "ksc", { openCount: 0 }),
  ];
}

export function routingInput(
  overrides: Partial<Omit<RoutingInput, "config">> & { config?: RoutingConfigInput } = {},
): RoutingInput {
  const { config, ...rest } = overrides;
  return {
    bank: { region: "DE-BY", timezone: "Europe/Berlin" },
    now: INSIDE,
    kscContracted: true,
    agents: standardAgents(),
    inHouseActiveCount: 0,
    conversation: { isNew: true, previousHandler: null },
    customer: { advisorUserId: null },
    firstMessageText: "Hallo, ich habe eine Frage",
    advisorCodes: [],
    ...rest,
    config: routingConfigSchema.parse({ closures: ["2026-12-24"], ...config }),
  };
}
