export type { AdvisorCode } from "./advisor-code";
export { ADVISOR_CODE_PATTERN, findAdvisorCode } from "./advisor-code";
export type { BackfillAssignment, BackfillOptions, QueueEntry } from "./backfill";
export { planBackfill, selectForBackfill } from "./backfill";
export type {
  ClosingAction,
  ClosingDecision,
  ClosingInput,
  ClosingOpenConversation,
  ClosingQueuedConversation,
  ClosingRule,
} from "./closing";
export { decideAtClosing, isUnansweredOverdue } from "./closing";
export type {
  RoutingConfig,
  RoutingConfigInput,
  RoutingConfigIssue,
  RoutingMode,
  ServiceHours,
  ServiceInterval,
  TenantRoutingValidation,
} from "./config";
export {
  defaultRoutingConfig,
  modeNeedsKsc,
  ROUTING_MODES,
  routingConfigSchema,
  serviceHoursSchema,
  validateRoutingForTenant,
} from "./config";
export type {
  AddressedAdvisor,
  RoutingCandidate,
  RoutingDecision,
  RoutingInput,
  RoutingRule,
  RoutingTarget,
} from "./decide";
export { closedPeriodKeyFor, decideRouting } from "./decide";
export type { PublicHoliday } from "./holidays";
export { holidaysForYear, parseGermanRegion, publicHolidayOn } from "./holidays";
export type { OpeningReason, OpeningState } from "./service-hours";
export { isOpen, openingState } from "./service-hours";
export type { Weekday } from "./time-of-day";
export { WEEKDAYS } from "./time-of-day";
export type { AgentKind, HandledBy, Presence, QueueSide, RoutingAgent } from "./types";
export { compareByLoad, personAvailability } from "./types";
