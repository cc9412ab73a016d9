// Starting: read where the APIs are, then show the app, or what stands in the way: a key to enter
// (the platform requires one), a key without the scope to read, a rate limit, or a server that
// does not serve /config.json. A key needed later, by any call, opens the key dialog over the page.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

import { onKeyNeeded } from "./api/access";
import { ApiError } from "./api/http";
import { App } from "./app";
import { KeyDialog } from "./components/key-dialog";
import { Failure } from "./components/states";
import { loadConfig } from "./config";
import { useAsync } from "./hooks";
import { storedKey } from "./lib/api-key";

function CannotStart(props: { error: Error }): JSX.Element {
  const { error } = props;
  const detail =
    error instanceof ApiError
      ? error.status === 0
        ? error.problems.map((problem) => problem.message).join("; ")
        : `/config.json answered HTTP ${error.status}: ${error.problems.map((problem) => problem.message).join("; ")}`
      : error.message;
  return (
    <div class="state failure">
      <h2>Candybar cannot start</h2>
      <p>{detail}. The server that serves this page answers /config.json; is it candybar serve or 33god up?</p>
    </div>
  );
}

export function Start(): JSX.Element {
  const [asked, setAsked] = useState<{ rejected: string | null } | null>(null);
  const [keyAtStart] = useState(storedKey); // a refused key is forgotten: was one sent?
  useEffect(() => onKeyNeeded(setAsked), []);
  const config = useAsync(() => loadConfig(), []);
  if (config.status === "loading") return <p class="boot">Loading Candybar…</p>;
  if (config.status === "error") {
    const { error } = config;
    const access = error instanceof ApiError ? error.access : null;
    if (access?.kind === "unauthenticated") {
      return <KeyDialog rejected={keyAtStart === null ? null : access.message} />;
    }
    if (access !== null) {
      return (
        <>
          <Failure error={error} retry={config.reload} what="Candybar's settings" />
          {asked !== null ? <KeyDialog rejected={asked.rejected} onCancel={() => setAsked(null)} /> : null}
        </>
      );
    }
    return <CannotStart error={error} />;
  }
  return (
    <>
      <App config={config.data} />
      {asked !== null ? <KeyDialog rejected={asked.rejected} onCancel={() => setAsked(null)} /> : null}
    </>
  );
}
