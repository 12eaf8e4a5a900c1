import type { Processor } from "../registry";
import { billingProcessor } from "./billing/index";
import { presenceProcessor } from "./maintenance/presence";

/** Every processor of the worker; each feature adds its own here. */
export const processors: Processor[] = [presenceProcessor, billingProcessor];
