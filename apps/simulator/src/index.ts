export type { RunningSimulator, Simulator } from "./app";
export { createSimulator } from "./app";
export type { InboundRequest } from "./inbound";
export type { MetaErrorBody } from "./meta-errors";
export type { NumberSettings, PairRate, SimulatorConfig, SimulatorOptions } from "./options";
export { DEFAULT_CONFIG } from "./options";
export type {
  BusinessProfile,
  Fault,
  FaultKind,
  InboundMessage,
  NumberStats,
  ReadReceipt,
  SentMessage,
  SimulatorState,
  WebhookDelivery,
} from "./state";
export type { MessageStatus } from "./webhooks";
export { signatureHeader } from "./webhooks";
