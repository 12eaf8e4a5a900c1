import type { Processor } from "../registry";
import { billingProcessor } from "./billing/index";
import { dispatchProcessor } from "./dispatch/index";
import { inboundProcessor } from "./inbound/index";
import { presenceProcessor } from "./maintenance/presence";
import { routingProcessor } from "./routing/index";
import { rskInboundProcessor, rskMaintenanceProcessor } from "./rsk/index";

/** Every processor of the worker; each feature adds its own here. */
export const processors: Processor[] = [
  presenceProcessor,
  inboundProcessor,
  dispatchProcessor,
  rskInboundProcessor,
  rskMaintenanceProcessor,
  routingProcessor,
  billingProcessor,
];
