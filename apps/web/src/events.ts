// One Server-Sent Events stream per signed-in person. EventSource reconnects by itself and
// sends Last-Event-ID; after any gap we still re-fetch what is on screen, so nothing is missed
// even when the server cannot replay.
import type { AgentEventPayload, AgentEventType } from "@kanal/contracts/events";
import { useEffect, useRef, useSyncExternalStore } from "react";
import { api } from "./api";

/** The payloads are typed once, in @kanal/contracts; the console only lists the names it subscribes to. */
const EVENT_TYPES = [
  "conversation.assigned",
  "conversation.updated",
  "message.created",
  "message.status",
] as const satisfies readonly AgentEventType[];
// Fails to compile when the contract gains an event type the console does not subscribe to.
const everyTypeSubscribed: Exclude<AgentEventType, (typeof EVENT_TYPES)[number]> extends never
  ? true
  : never = true;
void everyTypeSubscribed;

type KanalEventType = AgentEventType;
type KanalEvent = AgentEventPayload & { id: string };

type StreamState = "idle" | "connecting" | "live" | "reconnecting";

type Listener = (event: KanalEvent) => void;

const listeners = new Set<Listener>();
const reconnectListeners = new Set<() => void>();
const stateListeners = new Set<() => void>();
let state: StreamState = "idle";
let source: EventSource | null = null;
let hadConnection = false;
let retryTimer: number | undefined;
let retryDelay = 1_000;

function setState(next: StreamState): void {
  if (state === next) return;
  state = next;
  for (const listener of stateListeners) listener();
}

function parse(type: KanalEventType, message: MessageEvent<string>): KanalEvent | null {
  try {
    const data: unknown = JSON.parse(message.data);
    if (typeof data !== "object" || data === null) return null;
    const record = data as Record<string, unknown>;
    if (typeof record.tenant !== "string" || typeof record.conversationId !== "string") return null;
    return { type, data, id: message.lastEventId } as KanalEvent;
  } catch {
    return null;
  }
}

function open(): void {
  retryTimer = undefined;
  setState(hadConnection ? "reconnecting" : "connecting");
  const stream = new EventSource("/v1/events");
  source = stream;
  stream.onopen = () => {
    retryDelay = 1_000;
    setState("live");
    if (hadConnection) {
      for (const listener of reconnectListeners) listener();
    }
    hadConnection = true;
  };
  stream.onerror = () => {
    if (source !== stream) return;
    setState("reconnecting");
    if (stream.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. a 401 or 5xx answer): ask /v1/me — a 401 there sends the
      // person to the login — and otherwise try again with backoff.
      stream.close();
      source = null;
      void api.me().catch(() => undefined);
      retryTimer = window.setTimeout(open, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30_000);
    }
  };
  // The server ended the stream for good: the session is over (logout, expiry, password change, disabled)
  // or another tab took this one's place. Do not reconnect; /v1/me sends an ended session to the login.
  stream.addEventListener("end", (message) => {
    if (source !== stream) return;
    stream.close();
    source = null;
    setState("idle");
    let reason = "";
    try {
      reason = String((JSON.parse((message as MessageEvent<string>).data) as { reason?: unknown }).reason);
    } catch {
      reason = "";
    }
    if (reason !== "replaced") void api.me().catch(() => undefined);
  });
  for (const type of EVENT_TYPES) {
    stream.addEventListener(type, (message) => {
      const event = parse(type, message as MessageEvent<string>);
      if (!event) return;
      for (const listener of listeners) listener(event);
    });
  }
}

export function startEvents(): void {
  if (source || retryTimer !== undefined) return;
  hadConnection = false;
  open();
}

export function stopEvents(): void {
  window.clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = null;
  hadConnection = false;
  setState("idle");
}

/** Subscribe to every event; the handler may change between renders without resubscribing. */
export function useKanalEvents(handler: Listener): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const listener: Listener = (event) => ref.current(event);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
}

/** Called after the stream comes back from a gap: re-fetch whatever is shown. */
export function useOnReconnect(handler: () => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const listener = () => ref.current();
    reconnectListeners.add(listener);
    return () => {
      reconnectListeners.delete(listener);
    };
  }, []);
}

export function useStreamState(): StreamState {
  return useSyncExternalStore(
    (listener) => {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    () => state,
  );
}
