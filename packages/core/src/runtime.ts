import type { AppConfig } from "@kanal/config";
import { registerListeners } from "./listeners/index";
import { createServiceContainer, type Services, type ServicesOptions } from "./services";

/** A process's services with its listeners registered: what the API, the worker, scripts and tests use. */
export function createServices(config: AppConfig, options: ServicesOptions = {}): Services {
  const services = createServiceContainer(config, options);
  registerListeners(services);
  return services;
}

export type { Services } from "./services";
