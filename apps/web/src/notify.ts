// In-app toasts, browser notifications and a short chime for new chats and messages.
import { useSyncExternalStore } from "react";

type ToastKind = "info" | "success" | "error";
type Toast = { id: number; kind: ToastKind; text: string; href?: string };

let toasts: Toast[] = [];
let nextToastId = 1;
const toastListeners = new Set<() => void>();

function emitToasts(): void {
  for (const listener of toastListeners) listener();
}

export function showToast(text: string, kind: ToastKind = "info", href?: string): void {
  const toast: Toast = { id: nextToastId++, kind, text, ...(href ? { href } : {}) };
  toasts = [...toasts.slice(-4), toast];
  emitToasts();
  window.setTimeout(() => dismissToast(toast.id), kind === "error" ? 10_000 : 6_000);
}

export function dismissToast(id: number): void {
  toasts = toasts.filter((toast) => toast.id !== id);
  emitToasts();
}

export function useToasts(): Toast[] {
  return useSyncExternalStore(
    (listener) => {
      toastListeners.add(listener);
      return () => toastListeners.delete(listener);
    },
    () => toasts,
  );
}

// ---------- settings (not secrets, so localStorage is fine) ----------

const MUTE_STORAGE = "kanal.soundMuted";
const settingsListeners = new Set<() => void>();

function isSoundMuted(): boolean {
  return localStorage.getItem(MUTE_STORAGE) === "1";
}

export function setSoundMuted(muted: boolean): void {
  localStorage.setItem(MUTE_STORAGE, muted ? "1" : "0");
  for (const listener of settingsListeners) listener();
}

export function useSoundMuted(): boolean {
  return useSyncExternalStore((listener) => {
    settingsListeners.add(listener);
    return () => settingsListeners.delete(listener);
  }, isSoundMuted);
}

// ---------- sound: generated, so no audio file and no CSP media exception ----------

let audioContext: AudioContext | null = null;

export function playChime(force = false): void {
  if (!force && isSoundMuted()) return;
  try {
    audioContext ??= new AudioContext();
    const ctx = audioContext;
    if (ctx.state === "suspended") void ctx.resume();
    const start = ctx.currentTime;
    // Two soft notes, 120 ms apart: noticeable without being alarming in an open-plan office.
    for (const [offset, frequency] of [
      [0, 880],
      [0.12, 1320],
    ] as const) {
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.15, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.2);
    }
  } catch {
    // Audio may be blocked until the first user gesture; the toast still shows.
  }
}

// ---------- browser notifications ----------

type NotificationState = "granted" | "denied" | "default" | "unsupported";

export function notificationState(): NotificationState {
  if (typeof Notification === "undefined") return "unsupported";
  return Notification.permission;
}

export async function requestNotificationPermission(): Promise<NotificationState> {
  if (typeof Notification === "undefined") return "unsupported";
  return Notification.requestPermission();
}

function showBrowserNotification(title: string, body: string, onClick?: () => void): void {
  // Only when the tab is in the background: in front, the toast is enough.
  if (notificationState() !== "granted" || document.visibilityState === "visible") return;
  try {
    const notification = new Notification(title, { body, tag: title });
    notification.onclick = () => {
      window.focus();
      onClick?.();
      notification.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker.
  }
}

/** Toast + chime + browser notification in one call. */
export function announce(text: string, href?: string): void {
  showToast(text, "info", href);
  playChime();
  showBrowserNotification("Kanal", text, href ? () => window.location.assign(href) : undefined);
}
