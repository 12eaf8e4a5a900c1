import { type DependencyList, useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./api";

type Resource<T> = {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (update: (current: T | undefined) => T | undefined) => void;
};

/** Load data on mount and when deps change; stale answers of earlier loads are dropped. */
export function useResource<T>(loader: () => Promise<T>, deps: DependencyList): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loaderRef = useRef(loader);
  loaderRef.current = loader;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const result = await loaderRef.current();
      if (mine !== generation.current) return;
      setDataState(result);
      setError(undefined);
    } catch (caught) {
      if (mine !== generation.current) return;
      setError(caught);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setDataState(undefined);
    void reload();
    // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to reload
  }, deps);

  const setData = useCallback((update: (current: T | undefined) => T | undefined) => {
    setDataState((current) => update(current));
  }, []);

  return { data, error, loading, reload, setData };
}

type ActionResult<R> = { ok: true; value: R } | { ok: false; error: ApiError };

/** Run a submit action with busy and error state. */
export function useAction(): {
  busy: boolean;
  error: ApiError | undefined;
  run: <R>(action: () => Promise<R>) => Promise<ActionResult<R>>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const run = useCallback(async <R>(action: () => Promise<R>): Promise<ActionResult<R>> => {
    setBusy(true);
    setError(undefined);
    try {
      return { ok: true as const, value: await action() };
    } catch (caught) {
      const error = caught instanceof ApiError ? caught : new ApiError(0, "generic", String(caught));
      setError(error);
      return { ok: false as const, error };
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(undefined), []);
  return { busy, error, run, clear };
}

/** Re-render every `ms` milliseconds (countdowns). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
