import type { AnyProcessor } from "../registry";
import { bankWebhooksProcessor } from "./bank-webhooks/index";
import { billingProcessor } from "./billing/index";
import { retentionProcessor } from "./data-protection/index";
import { dispatchProcessor } from "./dispatch/index";
import { inboundProcessor } from "./inbound/index";
import { presenceProcessor } from "./maintenance/presence";
import { sessionsProcessor } from "./maintenance/sessions";
import { templatesProcessor } from "./maintenance/templates";
import { routingProcessor } from "./routing/index";

/** Every processor of the worker; each feature adds its own here. */
export const processors: AnyProcessor[] = [
  presenceProcessor,
  sessionsProcessor,
  inboundProcessor,
  dispatchProcessor,
  retentionProcessor,
  routingProcessor,
  billingProcessor,
  templatesProcessor,
  bankWebhooksProcessor,
];
