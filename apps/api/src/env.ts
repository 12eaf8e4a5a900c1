import type { Actor } from "@kanal/core/kernel";
import type { EventHub } from "@kanal/core/realtime";
import type { Services } from "@kanal/core/runtime";

interface AppVariables {
  requestId: string;
  services: Services;
  hub: EventHub;
  actor: Actor | null;
  viaCookie: boolean;
}
export interface AppEnv {
  Variables: AppVariables;
}
