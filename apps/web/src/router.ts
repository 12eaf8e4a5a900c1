// A tiny hash router: the SPA is served as static files by the API, so hash URLs need no
// server-side fallback and survive a reload on any screen.
import { useSyncExternalStore } from "react";

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

function currentHash(): string {
  const raw = window.location.hash.replace(/^#/, "");
  return raw.startsWith("/") ? raw : "/";
}

/** The current route, e.g. `/inbox/sparkasse-x/conv_1?tab=x`. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, currentHash, () => "/");
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const target = `#${to}`;
  if (options.replace) {
    window.location.replace(target);
  } else {
    window.location.hash = to;
  }
}

export function splitLocation(location: string): { path: string; query: URLSearchParams } {
  const index = location.indexOf("?");
  if (index < 0) return { path: location, query: new URLSearchParams() };
  return { path: location.slice(0, index), query: new URLSearchParams(location.slice(index + 1)) };
}

/** Match `/inbox/:tenant/:id` against a path; returns decoded params or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const patternParts = pattern.split("/").filter(Boolean);
  const pathParts = path.split("/").filter(Boolean);
  if (patternParts.length !== pathParts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < patternParts.length; i++) {
    const expected = patternParts[i] ?? "";
    const actual = pathParts[i] ?? "";
    if (expected.startsWith(":")) {
      params[expected.slice(1)] = decodeURIComponent(actual);
    } else if (expected !== actual) {
      return null;
    }
  }
  return params;
}

export function href(path: string): string {
  return `#${path}`;
}
