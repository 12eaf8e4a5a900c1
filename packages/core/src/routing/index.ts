export { backfillForUser, drainQueues } from "./backfill";
export { reopenConversation } from "./reopen";
export { routeConversation, type RoutingOutcome } from "./route";
export {
  createAbsence,
  deleteAbsence,
  getRoutingSettings,
  holidaysPreview,
  listAbsences,
  putRoutingSettings,
} from "./settings";
export { applyClosingPolicy, routingTick, routingTickForTenant } from "./sweep";
export { loadRoutingConfig } from "../conversations/bank";
