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
