// What a page shows while it loads, when there is nothing yet, and when something failed.
import type { ComponentChildren, JSX } from "preact";

import { ApiError } from "../api/http";

export function Loading(props: { what: string }): JSX.Element {
  return (
    <div class="state loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {props.what}…
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <div class="state empty">
      <h2>{props.title}</h2>
      {props.children}
    </div>
  );
}

export function Failure(props: { error: Error; retry?: () => void; what?: string }): JSX.Element {
  const { error } = props;
  const problems = error instanceof ApiError ? error.problems : [{ path: null, message: error.message }];
  const service = error instanceof ApiError ? error.service : null;
  return (
    <div class="state failure" role="alert">
      <h2>
        {props.what ? `Could not load ${props.what}` : "Something went wrong"}
        {service ? ` — ${service}${error instanceof ApiError && error.status ? ` answered ${error.status}` : " did not answer"}` : ""}
      </h2>
      <ul>
        {problems.map((problem, index) => (
          <li key={index}>
            {problem.path ? <code>{problem.path}</code> : null} {problem.message}
          </li>
        ))}
      </ul>
      {error instanceof ApiError && error.status === 0 ? (
        <p class="hint">Is it running? Start the platform with <code>33god up</code>, or check the URLs in CANDYBAR_* settings.</p>
      ) : null}
      {props.retry ? (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
