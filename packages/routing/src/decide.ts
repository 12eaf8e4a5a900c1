import { DateTime } from "luxon";
import type { AdvisorCode } from "./advisor-code";
import { findAdvisorCode } from "./advisor-code";
import type { RoutingConfig, RoutingMode } from "./config";
import type { OpeningState } from "./service-hours";
import { openingState } from "./service-hours";
import type { AgentKind, HandledBy, QueueSide, RoutingAgent } from "./types";
import { compareByLoad, handledByForKind, personAvailability } from "./types";

export type RoutingRule =
  | "advisor.direct"
  | "advisor.deputy"
  | "sticky.reopen"
  | "in_house.inside_hours"
  | "in_house.outside_hours"
  | "hours_outsourcing.inside_hours"
  | "hours_outsourcing.outside_hours"
  | "capacity_overflow.under_threshold"
  | "capacity_overflow.over_threshold"
  | "capacity_overflow.outside_hours"
  | "capacity_overflow.no_bank_agent"
  | "full_service.ksc"
  | "no_ksc.bank_fallback"
  | "rules.bank_only";

export interface RoutingInput {
  config: RoutingConfig;
  /** The bank's German state ("DE-BY") and IANA time zone ("Europe/Berlin"). */
  bank: { region: string; timezone: string };
  now: Date;
  kscContracted: boolean;
  /** Bank agents, advisors (and deputies) and the contracted KSC's agents. */
  agents: RoutingAgent[];
  /** Active conversations the bank's own people hold right now (capacity_overflow). */
  inHouseActiveCount: number;
  conversation: {
    /** true: a brand-new conversation; false: a closed one is being reopened. Wording only. */
    isNew: boolean;
    /** Who handled this customer's most recent conversation and when it closed. */
    previousHandler?: { userId: string; closedAt: Date } | null;
  };
  customer: { advisorUserId?: string | null };
  /** Text of the conversation's first message, searched for an advisor code. */
  firstMessageText?: string | null;
  advisorCodes?: readonly AdvisorCode[];
  /** The topic of the first message when the bank's rule book reserves it to the bank (no KSC). */
  bankOnlyTopic?: string | null;
}

export type RoutingTarget =
  | { type: "agent"; userId: string; handledBy: HandledBy }
  | { type: "queue"; queue: QueueSide; handledBy: HandledBy };

export interface RoutingCandidate {
  userId: string;
  kind: AgentKind;
  eligible: boolean;
  why: string;
  whyDe: string;
  /** Open conversations (for KSC agents across all banks). */
  load: number;
  maxChats: number | null;
}

export interface AddressedAdvisor {
  userId: string;
  source: "customer_record" | "advisor_code";
  code?: string;
}

export interface RoutingDecision {
  target: RoutingTarget;
  rule: RoutingRule;
  reason: string;
  reasonDe: string;
  mode: RoutingMode;
  candidates: RoutingCandidate[];
  /** Nobody will answer now: the caller sends the away message once per closedPeriodKey. */
  sendAwayMessage: boolean;
  /** Next start of service hours when closed now, else null. */
  nextOpening: Date | null;
  /** Stable id of the current closed period (null while open), to send the away message once. */
  closedPeriodKey: string | null;
  opening: OpeningState;
  addressedAdvisor: AddressedAdvisor | null;
}

interface Text {
  en: string;
  de: string;
}

interface SideChoice {
  side: QueueSide;
  rule: RoutingRule;
  text: Text;
}

export function closedPeriodKeyFor(opening: OpeningState): string | null {
  if (opening.open) return null;
  return `closed-until:${opening.nextOpening ? opening.nextOpening.toISOString() : "none"}`;
}

/**
 * One routing decision for a new or reopened conversation. Order: advisor addressing (advisor,
 * then deputy), sticky reopen, then the bank's mode with least-loaded selection; nobody
 * eligible means the queue of the chosen side. Pure: everything it needs comes in `input`.
 */
export function decideRouting(input: RoutingInput): RoutingDecision {
  const { config, bank, now, agents } = input;
  const opening = openingState(config, bank.region, bank.timezone, now);
  const byId = new Map(agents.map((agent) => [agent.userId, agent]));
  const nameOf = (userId: string) => byId.get(userId)?.name ?? userId;
  const notes: Text[] = [];
  const personNotes = new Map<string, Text>();
  const formatDate = (date: Date, locale: "en" | "de") =>
    DateTime.fromJSDate(date, { zone: bank.timezone })
      .setLocale(locale)
      .toFormat(locale === "de" ? "ccc d. LLL yyyy, HH:mm 'Uhr'" : "ccc d LLL yyyy, HH:mm");

  const base = {
    mode: config.mode,
    nextOpening: opening.nextOpening,
    closedPeriodKey: closedPeriodKeyFor(opening),
    opening,
  };

  const finishWithPerson = (
    agent: RoutingAgent,
    rule: RoutingRule,
    handledBy: HandledBy,
    text: Text,
    addressedAdvisor: AddressedAdvisor | null,
  ): RoutingDecision => ({
    ...base,
    // An online person takes the chat, so nobody waits for an away message.
    sendAwayMessage: false,
    addressedAdvisor,
    target: { type: "agent", userId: agent.userId, handledBy },
    rule,
    reason: sentence([...notes.map((n) => n.en), text.en]),
    reasonDe: sentence([...notes.map((n) => n.de), text.de]),
    candidates: agents.map((candidate) => {
      const chosen = candidate.userId === agent.userId;
      const note = personNotes.get(candidate.userId);
      const availability = personAvailability(candidate);
      return {
        userId: candidate.userId,
        kind: candidate.kind,
        eligible: chosen,
        why: note?.en ?? (chosen ? availability.why : `not considered (${rule} decided)`),
        whyDe: note?.de ?? (chosen ? availability.whyDe : `nicht betrachtet (Regel ${rule})`),
        load: candidate.openCount,
        maxChats: candidate.maxChats,
      };
    }),
  });

  // 1. Advisor addressing: an explicit code in the first message wins over the customer record.
  const addressedAdvisor = resolveAddressedAdvisor(input);
  if (addressedAdvisor) {
    const advisor = byId.get(addressedAdvisor.userId);
    const source: Text =
      addressedAdvisor.source === "advisor_code"
        ? {
            en: `advisor code #${addressedAdvisor.code} in the first message`,
            de: `Beratercode #${addressedAdvisor.code} in der ersten Nachricht`,
          }
        : { en: "customer record", de: "Kundenstamm" };
    const advisorState = advisor
      ? personAvailability(advisor)
      : { available: false, why: "not a known user of this bank", whyDe: "kein bekannter Benutzer der Bank" };
    if (advisor && advisorState.available) {
      personNotes.set(advisor.userId, {
        en: `addressed advisor, ${advisorState.why}`,
        de: `adressierter Berater, ${advisorState.whyDe}`,
      });
      return finishWithPerson(
        advisor,
        "advisor.direct",
        "advisor",
        {
          en: `The chat is addressed to advisor ${nameOf(advisor.userId)} (${source.en}), who is available, so it goes to them`,
          de: `Der Chat ist an Berater ${nameOf(advisor.userId)} adressiert (${source.de}), der verfügbar ist, daher geht er an ihn`,
        },
        addressedAdvisor,
      );
    }
    if (advisor) {
      personNotes.set(advisor.userId, {
        en: `addressed advisor, but ${advisorState.why}`,
        de: `adressierter Berater, aber ${advisorState.whyDe}`,
      });
    }
    const deputyId = advisor?.deputyUserId ?? null;
    const deputy = deputyId ? byId.get(deputyId) : undefined;
    const deputyState = deputy ? personAvailability(deputy) : null;
    if (deputy && deputyState?.available) {
      personNotes.set(deputy.userId, {
        en: `deputy of advisor ${nameOf(addressedAdvisor.userId)}, ${deputyState.why}`,
        de: `Vertreter von Berater ${nameOf(addressedAdvisor.userId)}, ${deputyState.whyDe}`,
      });
      return finishWithPerson(
        deputy,
        "advisor.deputy",
        "advisor",
        {
          en: `The chat is addressed to advisor ${nameOf(addressedAdvisor.userId)} (${source.en}), who is ${advisorState.why}, so their deputy ${nameOf(deputy.userId)} takes it`,
          de: `Der Chat ist an Berater ${nameOf(addressedAdvisor.userId)} adressiert (${source.de}), der ${advisorState.whyDe} ist, daher übernimmt Vertreter ${nameOf(deputy.userId)}`,
        },
        addressedAdvisor,
      );
    }
    if (deputy && deputyState) {
      personNotes.set(deputy.userId, {
        en: `deputy of advisor ${nameOf(addressedAdvisor.userId)}, but ${deputyState.why}`,
        de: `Vertreter von Berater ${nameOf(addressedAdvisor.userId)}, aber ${deputyState.whyDe}`,
      });
    }
    const deputyText: Text = !deputyId
      ? { en: "no deputy is set", de: "kein Vertreter ist hinterlegt" }
      : deputyState
        ? {
            en: `deputy ${nameOf(deputyId)} is ${deputyState.why}`,
            de: `Vertreter ${nameOf(deputyId)} ist ${deputyState.whyDe}`,
          }
        : {
            en: `deputy ${nameOf(deputyId)} is not a known user`,
            de: `Vertreter ${nameOf(deputyId)} ist kein bekannter Benutzer`,
          };
    notes.push({
      en: `Addressed advisor ${nameOf(addressedAdvisor.userId)} (${source.en}) is ${advisorState.why} and ${deputyText.en}, so the routing mode decides`,
      de: `Der adressierte Berater ${nameOf(addressedAdvisor.userId)} (${source.de}) ist ${advisorState.whyDe} und ${deputyText.de}, daher entscheidet der Routing-Modus`,
    });
  }

  const closedText = closedDescription(opening);
  const modeChoice = chooseSide(input, opening, closedText, false);

  // 2. Sticky reopen: the previous handler, if back within the window and still eligible.
  const previous = input.conversation.previousHandler;
  if (previous && config.reopenWindowHours > 0) {
    const hoursSince = (now.getTime() - previous.closedAt.getTime()) / 3_600_000;
    const handler = byId.get(previous.userId);
    if (hoursSince >= 0 && hoursSince <= config.reopenWindowHours) {
      const state = handler ? personAvailability(handler) : null;
      const allowed = handler ? stickyAllowed(handler, modeChoice.side, opening.open) : null;
      if (handler && state?.available && allowed === null) {
        personNotes.set(handler.userId, {
          en: `previous handler, ${state.why}`,
          de: `bisheriger Bearbeiter, ${state.whyDe}`,
        });
        return finishWithPerson(
          handler,
          "sticky.reopen",
          handledByForKind(handler.kind),
          {
            en: `The customer wrote again ${formatHours(hoursSince)} h after their last conversation closed (reopen window ${config.reopenWindowHours} h) and the previous handler ${nameOf(handler.userId)} is online and still eligible, so they get the chat back`,
            de: `Der Kunde hat ${formatHours(hoursSince)} Std. nach Abschluss des letzten Gesprächs erneut geschrieben (Wiederöffnungsfenster ${config.reopenWindowHours} Std.) und der bisherige Bearbeiter ${nameOf(handler.userId)} ist online und weiterhin zuständig, daher erhält er den Chat zurück`,
          },
          addressedAdvisor,
        );
      }
      const why: Text = !handler
        ? { en: "is no longer a candidate", de: "ist kein Kandidat mehr" }
        : state && !state.available
          ? { en: `is ${state.why}`, de: `ist ${state.whyDe}` }
          : { en: `is no longer eligible (${allowed?.en})`, de: `ist nicht mehr zuständig (${allowed?.de})` };
      if (handler)
        personNotes.set(handler.userId, {
          en: `previous handler, ${why.en}`,
          de: `bisheriger Bearbeiter, ${why.de}`,
        });
      notes.push({
        en: `The previous handler ${nameOf(previous.userId)} ${why.en}, so the chat is routed anew`,
        de: `Der bisherige Bearbeiter ${nameOf(previous.userId)} ${why.de}, daher wird der Chat neu verteilt`,
      });
    }
  }

  // 3. The bank's mode picks a side; least loaded eligible agent there, else that side's queue.
  const choice = chooseSide(input, opening, closedText, true);
  const evaluated = agents.map((agent) => {
    const availability = personAvailability(agent);
    const excluded = poolExclusion(agent, choice.side, opening.open);
    const note = personNotes.get(agent.userId);
    const eligible = availability.available && excluded === null;
    const why = excluded
      ? { en: excluded.en, de: excluded.de }
      : { en: availability.why, de: availability.whyDe };
    return {
      agent,
      candidate: {
        userId: agent.userId,
        kind: agent.kind,
        eligible,
        why: note ? `${note.en}; ${why.en}` : why.en,
        whyDe: note ? `${note.de}; ${why.de}` : why.de,
        load: agent.openCount,
        maxChats: agent.maxChats,
      } satisfies RoutingCandidate,
    };
  });
  const chosen = evaluated
    .filter((entry) => entry.candidate.eligible)
    .map((entry) => entry.agent)
    .sort(compareByLoad)[0];
  const handledBy: HandledBy = choice.side === "ksc" ? "ksc" : "in_house";

  let outcome: Text;
  let target: RoutingTarget;
  let sendAwayMessage = false;
  if (chosen) {
    target = { type: "agent", userId: chosen.userId, handledBy };
    outcome = {
      en: `the least-loaded eligible agent ${nameOf(chosen.userId)} (${chosen.openCount} open chats) gets it`,
      de: `der am wenigsten ausgelastete zuständige Mitarbeiter ${nameOf(chosen.userId)} (${chosen.openCount} offene Chats) erhält ihn`,
    };
  } else {
    target = { type: "queue", queue: choice.side, handledBy };
    // Bank queue while closed: nobody answers until the next opening (the KSC covers its queue).
    sendAwayMessage = choice.side === "bank" && !opening.open;
    const queueName =
      choice.side === "ksc"
        ? { en: "KSC queue", de: "KSC-Warteschlange" }
        : { en: "bank queue", de: "Bank-Warteschlange" };
    if (sendAwayMessage) {
      const next = opening.nextOpening
        ? { en: formatDate(opening.nextOpening, "en"), de: formatDate(opening.nextOpening, "de") }
        : { en: "no opening is scheduled", de: "keine Öffnung geplant" };
      outcome = {
        en: `nobody answers now, so it waits in the ${queueName.en} and the customer gets the away message (next opening: ${next.en})`,
        de: `niemand antwortet jetzt, daher wartet er in der ${queueName.de} und der Kunde erhält die Abwesenheitsnotiz (nächste Öffnung: ${next.de})`,
      };
    } else {
      outcome = {
        en: `nobody eligible is available, so it waits in the ${queueName.en}`,
        de: `niemand Zuständiges ist verfügbar, daher wartet er in der ${queueName.de}`,
      };
    }
  }

  return {
    ...base,
    target,
    rule: choice.rule,
    reason: sentence([...notes.map((n) => n.en), `${choice.text.en}; ${outcome.en}`]),
    reasonDe: sentence([...notes.map((n) => n.de), `${choice.text.de}; ${outcome.de}`]),
    candidates: evaluated.map((entry) => entry.candidate),
    sendAwayMessage,
    addressedAdvisor,
  };
}

function resolveAddressedAdvisor(input: RoutingInput): AddressedAdvisor | null {
  const byCode = findAdvisorCode(input.firstMessageText, input.advisorCodes ?? []);
  if (byCode) return { userId: byCode.userId, source: "advisor_code", code: byCode.code.replace(/^#/, "") };
  if (input.config.advisorRouting && input.customer.advisorUserId) {
    return { userId: input.customer.advisorUserId, source: "customer_record" };
  }
  return null;
}

function closedDescription(opening: OpeningState): Text {
  if (opening.reason === "holiday") {
    return { en: `public holiday "${opening.holidayName}"`, de: `Feiertag „${opening.holidayName}“` };
  }
  if (opening.reason === "closure") return { en: "closure day", de: "Schließtag" };
  return { en: "outside service hours", de: "außerhalb der Servicezeiten" };
}

/**
 * Which side the mode sends the chat to. With `considerAvailability`, capacity_overflow also
 * overflows when it is under its threshold but no bank agent can take the chat; sticky
 * eligibility uses the plain mode answer instead.
 */
function chooseSide(
  input: RoutingInput,
  opening: OpeningState,
  closed: Text,
  considerAvailability: boolean,
): SideChoice {
  const { config, kscContracted, inHouseActiveCount } = input;
  const threshold = config.capacityThreshold;
  let choice: SideChoice;
  switch (config.mode) {
    case "in_house":
      choice = opening.open
        ? {
            side: "bank",
            rule: "in_house.inside_hours",
            text: {
              en: "In-house mode: the bank's own agents handle every chat",
              de: "Modus Inhouse: Die eigenen Mitarbeitenden der Bank bearbeiten jeden Chat",
            },
          }
        : {
            side: "bank",
            rule: "in_house.outside_hours",
            text: {
              en: `In-house mode and the bank is closed (${closed.en}), so its agents take no chats now`,
              de: `Modus Inhouse und die Bank ist geschlossen (${closed.de}), daher nehmen ihre Mitarbeitenden jetzt keine Chats an`,
            },
          };
      break;
    case "hours_outsourcing":
      choice = opening.open
        ? {
            side: "bank",
            rule: "hours_outsourcing.inside_hours",
            text: {
              en: "Inside service hours the bank's own agents handle chats (hours outsourcing)",
              de: "Innerhalb der Servicezeiten bearbeiten die eigenen Mitarbeitenden der Bank die Chats (Outsourcing außerhalb der Servicezeiten)",
            },
          }
        : {
            side: "ksc",
            rule: "hours_outsourcing.outside_hours",
            text: {
              en: `Outside service hours (${closed.en}) the contracted KSC handles chats (hours outsourcing)`,
              de: `Außerhalb der Servicezeiten (${closed.de}) bearbeitet das beauftragte KSC die Chats (Outsourcing außerhalb der Servicezeiten)`,
            },
          };
      break;
    case "capacity_overflow":
      if (!opening.open) {
        choice = {
          side: "ksc",
          rule: "capacity_overflow.outside_hours",
          text: {
            en: `Outside service hours (${closed.en}) the bank's in-house capacity is zero, so the chat overflows to the KSC`,
            de: `Außerhalb der Servicezeiten (${closed.de}) ist die Inhouse-Kapazität null, daher geht der Chat an das KSC`,
          },
        };
      } else if (inHouseActiveCount >= threshold) {
        choice = {
          side: "ksc",
          rule: "capacity_overflow.over_threshold",
          text: {
            en: `The bank's agents already hold ${inHouseActiveCount} active chats (threshold ${threshold}), so the chat overflows to the KSC`,
            de: `Die Mitarbeitenden der Bank halten bereits ${inHouseActiveCount} aktive Chats (Schwelle ${threshold}), daher geht der Chat an das KSC`,
          },
        };
      } else if (
        considerAvailability &&
        !input.agents.some((a) => isInPool(a, "bank", true) && personAvailability(a).available)
      ) {
        choice = {
          side: "ksc",
          rule: "capacity_overflow.no_bank_agent",
          text: {
            en: `The bank is under its threshold (${inHouseActiveCount} of ${threshold} active chats) but no bank agent is online with free capacity, so the chat overflows to the KSC`,
            de: `Die Bank liegt unter ihrer Schwelle (${inHouseActiveCount} von ${threshold} aktiven Chats), aber kein Bankmitarbeiter ist online mit freier Kapazität, daher geht der Chat an das KSC`,
          },
        };
      } else {
        choice = {
          side: "bank",
          rule: "capacity_overflow.under_threshold",
          text: {
            en: `The bank's agents hold ${inHouseActiveCount} active chats, below the threshold of ${threshold}, so the chat stays in-house`,
            de: `Die Mitarbeitenden der Bank halten ${inHouseActiveCount} aktive Chats, unter der Schwelle von ${threshold}, daher bleibt der Chat im Haus`,
          },
        };
      }
      break;
    case "full_service":
      choice = {
        side: "ksc",
        rule: "full_service.ksc",
        text: {
          en: "Full service: the contracted KSC handles every chat not addressed to an advisor",
          de: "Full Service: Das beauftragte KSC bearbeitet jeden Chat, der nicht an einen Berater adressiert ist",
        },
      };
      break;
  }
  if (choice.side === "ksc" && input.bankOnlyTopic) {
    // The rule book decides before the mode: a KSC may not handle this topic at all.
    return {
      side: "bank",
      rule: "rules.bank_only",
      text: {
        en: `${choice.text.en}, but the rule book reserves the topic "${input.bankOnlyTopic}" to the bank, so the chat stays with the bank${opening.open ? "" : ` (${closed.en})`}`,
        de: `${choice.text.de}, aber das Reaktions-Struktur-Konzept behält das Thema „${input.bankOnlyTopic}“ der Bank vor, daher bleibt der Chat bei der Bank${opening.open ? "" : ` (${closed.de})`}`,
      },
    };
  }
  if (choice.side === "ksc" && !kscContracted) {
    return {
      side: "bank",
      rule: "no_ksc.bank_fallback",
      text: {
        en: `${choice.text.en}, but no KSC is contracted, so the chat stays with the bank${opening.open ? "" : ` (${closed.en})`}`,
        de: `${choice.text.de}, aber es ist kein KSC beauftragt, daher bleibt der Chat bei der Bank${opening.open ? "" : ` (${closed.de})`}`,
      },
    };
  }
  return choice;
}

/** Bank agents serve only inside service hours; advisors only chats addressed to them. */
function isInPool(agent: RoutingAgent, side: QueueSide, open: boolean): boolean {
  return poolExclusion(agent, side, open) === null;
}

function poolExclusion(agent: RoutingAgent, side: QueueSide, open: boolean): Text | null {
  if (agent.kind === "advisor") {
    return {
      en: "advisor: receives only chats addressed to them",
      de: "Berater: erhält nur an ihn adressierte Chats",
    };
  }
  if (agent.kind === "bank" && side === "ksc") {
    return {
      en: "bank agent: this chat goes to the KSC",
      de: "Bankmitarbeiter: dieser Chat geht an das KSC",
    };
  }
  if (agent.kind === "ksc" && side === "bank") {
    return {
      en: "KSC agent: this chat stays with the bank",
      de: "KSC-Mitarbeiter: dieser Chat bleibt bei der Bank",
    };
  }
  if (agent.kind === "bank" && !open) {
    return { en: "bank agent: outside service hours", de: "Bankmitarbeiter: außerhalb der Servicezeiten" };
  }
  return null;
}

/** null when the previous handler may take the chat back under the current mode, else why not. */
function stickyAllowed(handler: RoutingAgent, side: QueueSide, open: boolean): Text | null {
  // Advisor routing applies in every mode, so an advisor may always get their customer back.
  if (handler.kind === "advisor") return null;
  return poolExclusion(handler, side, open);
}

function formatHours(hours: number): string {
  return hours.toFixed(1);
}

function sentence(parts: string[]): string {
  const text = parts.join(". ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}
