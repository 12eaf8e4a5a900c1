import type { Actor } from "@kanal/core/kernel";
import type { EventHub } from "@kanal/core/realtime";
import type { Services } from "@kanal/core/runtime";
import type { TenantAccess } from "@kanal/core/tenants";

interface AppVariables {
  requestId: string;
  services: Services;
  hub: EventHub;
  actor: Actor | null;
  viaCookie: boolean;
  /** Set by the route's `tenantRole` middleware. */
  access: TenantAccess | undefined;
  /** The error code of a refused request, for its log line. */
  errorCode: string | undefined;
}
export interface AppEnv {
  Variables: AppVariables;
}
