import type { Services } from "@kanal/core";
import type { AppHooks } from "./app";

/** Hooks that connect API writes to background work; issues 3, 4 and 7 add theirs here. */
export function apiHooks(_services: Services): Pick<AppHooks, "onPresence" | "afterOnboard"> {
  return {};
}
