import type { Actor, EventHub, Services } from "@kanal/core";

export interface AppVariables {
  requestId: string;
  services: Services;
  hub: EventHub;
  actor: Actor | null;
  viaCookie: boolean;
}
export interface AppEnv {
  Variables: AppVariables;
}
