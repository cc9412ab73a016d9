// Small hooks shared by the pages.
import { useCallback, useEffect, useState } from "preact/hooks";

export type Async<T> =
  | { status: "loading"; data?: undefined; error?: undefined }
  | { status: "ok"; data: T; error?: undefined }
  | { status: "error"; data?: undefined; error: Error };

/** Run `load` when `deps` change; `reload` runs it again. A stale answer never overwrites a newer one. */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): Async<T> & { reload: () => void } {
  const [state, setState] = useState<Async<T>>({ status: "loading" });
  const [round, setRound] = useState(0);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  useEffect(() => {
    let current = true;
    setState({ status: "loading" });
    load().then(
      (data) => current && setState({ status: "ok", data }),
      (error: unknown) => current && setState({ status: "error", error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  return { ...state, reload };
}

/** Call `tick` every `ms` milliseconds while the page shows. */
export function useInterval(tick: () => void, ms: number): void {
  useEffect(() => {
    const handle = window.setInterval(tick, ms);
    return () => window.clearInterval(handle);
  }, [tick, ms]);
}

export interface Latest<T> {
  /** The last answer, kept while a newer one loads and when a newer one failed. */
  data: T | undefined;
  /** Why the last run failed; undefined after a success. */
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Like useAsync, for views refreshed in place: what was shown stays until a new answer replaces it. */
export function useLatest<T>(load: () => Promise<T>, deps: readonly unknown[]): Latest<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [round, setRound] = useState(0);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: unknown) =>
        current &&
        setState((previous) => ({ ...previous, loading: false, error: error instanceof Error ? error : new Error(String(error)) })),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  return { ...state, reload };
}
