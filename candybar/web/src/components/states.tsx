// What a page shows while it loads, when there is nothing yet, and when something failed (its key included).
import type { ComponentChildren, JSX } from "preact";

import { describeAccess, keyNeeded, rateLimitedTitle, type AccessProblem } from "../api/access";
import { ApiError, type Problem } from "../api/http";

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

/** The text of a failed action's outcome: what the key's problem is when it is one, else the error's message. */
export function failureText(error: unknown): string {
  if (error instanceof ApiError && error.access !== null) return describeAccess(error.access);
  return error instanceof Error ? error.message : String(error);
}

function problemList(problems: readonly Problem[]): JSX.Element {
  return (
    <ul>
      {problems.map((problem, index) => (
        <li key={index}>
          {problem.path ? <code>{problem.path}</code> : null} {problem.message}
        </li>
      ))}
    </ul>
  );
}

/** A page that failed for its key: asked for one (401), refused for its scope (403) or over its rate (429). */
function AccessFailure(props: { error: ApiError; problem: AccessProblem; retry?: () => void }): JSX.Element {
  const { error, problem } = props;
  const title =
    problem.kind === "unauthenticated"
      ? "This platform requires an API key"
      : problem.kind === "forbidden"
        ? "Your key lacks the scope for this"
        : rateLimitedTitle(problem.retryAfter);
  return (
    <div class={`state failure access ${problem.kind}`} role="alert" data-access={problem.kind}>
      <h2>
        {title} — {error.service} answered {error.status}
      </h2>
      {problemList(error.problems)}
      {problem.kind === "forbidden" ? (
        <p class="hint">Ask whoever runs the platform for a key with that scope, or use another key.</p>
      ) : null}
      {problem.kind === "limited" ? null : (
        <button type="button" onClick={() => keyNeeded(null)}>
          {problem.kind === "forbidden" ? "Use another key" : "Enter an API key"}
        </button>
      )}{" "}
      {props.retry ? (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Failure(props: { error: Error; retry?: () => void; what?: string }): JSX.Element {
  const { error } = props;
  const access = error instanceof ApiError ? error.access : null;
  if (error instanceof ApiError && access !== null) return <AccessFailure error={error} problem={access} retry={props.retry} />;
  const problems = error instanceof ApiError ? error.problems : [{ path: null, message: error.message }];
  const service = error instanceof ApiError ? error.service : null;
  return (
    <div class="state failure" role="alert">
      <h2>
        {props.what ? `Could not load ${props.what}` : "Something went wrong"}
        {service ? ` — ${service}${error instanceof ApiError && error.status ? ` answered ${error.status}` : " did not answer"}` : ""}
      </h2>
      {problemList(problems)}
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
