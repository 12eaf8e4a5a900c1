export { type Actor, actorUserId, isProviderAdmin, type MembershipView, systemActor } from "./actor";
export { auditControl, auditTenant } from "./audit";
export { constantTimeEqual, decryptSecret, newId } from "./crypto";
export type {
  AssignedBy,
  BankRef,
  DomainEvent,
  DomainEventType,
  HandledBy,
  QueueSide,
  Viewer,
} from "./domain-events";
export { AppError, ERROR_STATUS, type ErrorCode, type FieldError, invalid, notFound } from "./errors";
export type { RequestContext } from "./request-context";
