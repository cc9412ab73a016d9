// Acting on a conflict: acknowledge, then fix, accept or dispute (the last two with a reason). The
// lifecycle's rules are checked before asking; whatever the API still refuses (409, 422) is shown as it said.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import { describeAccess } from "../api/access";
import { ApiError } from "../api/http";
import type { VisibilityClient } from "../api/visibility";
import { actorToSend, loadActor } from "../lib/actor";
import { ActorField } from "./actor-field";
import { ACTIONS, actionProblem, availableActions, isUnresolved, needsReason, type Action, type Conflict, type ConflictDetail } from "../lib/conflicts";
import { formatTimestamp } from "../lib/format";

const LABELS: Record<Action, string> = { acknowledge: "Acknowledge", fix: "Fix", accept: "Accept", dispute: "Dispute" };
const DONE: Record<Action, string> = {
  acknowledge: "Acknowledged: fix, accept or dispute it next.",
  fix: "Marked fixed.",
  accept: "Accepted, with your reason recorded.",
  dispute: "Disputed as a false positive, with your reason recorded.",
};

type Outcome = { kind: "ok" | "error"; lines: string[] } | null;

/** The lines of an error answer: `$.note: …` for a field, the message alone for the request as a whole. */
export function linesOf(error: unknown): string[] {
  if (error instanceof ApiError) {
    const access = error.access;
    if (access !== null) return [describeAccess(access)];
    const lines = error.problems.map((problem) => (problem.path ? `${problem.path}: ${problem.message}` : problem.message));
    return error.status ? [`The visibility layer answered ${error.status}:`, ...lines] : lines;
  }
  return [(error as Error).message];
}

export function ConflictActions(props: {
  conflict: Conflict;
  visibility: VisibilityClient;
  /** The conflict as it is after an action, or null when it should be read again (it changed meanwhile). */
  onChanged: (conflict: ConflictDetail | null) => void;
}): JSX.Element {
  const { conflict } = props;
  const [actor, setActor] = useState(loadActor);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [missingReason, setMissingReason] = useState(false);
  const allowed = availableActions(conflict.status);

  const act = async (action: Action): Promise<void> => {
    const problem = actionProblem(conflict.status, action, note);
    if (problem !== null) {
      setMissingReason(needsReason(action) && note.trim() === "");
      setOutcome({ kind: "error", lines: [problem] });
      return;
    }
    const sent = actorToSend(actor);
    if (sent === "") {
      setOutcome({ kind: "error", lines: ["say who acts: fill in “Acting as”"] });
      return;
    }
    setBusy(true);
    setMissingReason(false);
    try {
      const after = await props.visibility.act(conflict.conflict_id, { action, ...(sent === null ? {} : { actor: sent }), note: note.trim() || null });
      setOutcome({ kind: "ok", lines: [DONE[action]] });
      setNote("");
      props.onChanged(after);
    } catch (error) {
      setOutcome({ kind: "error", lines: linesOf(error) });
      if (error instanceof ApiError && error.status === 409) props.onChanged(null); // it changed: show it as it is now
      if (error instanceof ApiError && error.problems.some((item) => item.path === "$.note")) setMissingReason(true);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="card conflict-actions">
      <h2>Act on it</h2>
      {isUnresolved(conflict.status) ? null : (
        <p class="muted resolved-note">
          Resolved ({conflict.status}) at {formatTimestamp(conflict.resolved_at)}: nothing more to do. If it happens again, a new conflict opens.
        </p>
      )}
      <form class="act" onSubmit={(event) => event.preventDefault()}>
        <ActorField class="inline" value={actor} onInput={setActor} />
        <label class="note">
          <span>
            Note <span class="hint">(the reason, to accept or dispute)</span>
          </span>
          <textarea
            name="note"
            rows={2}
            value={note}
            aria-invalid={missingReason}
            onInput={(event) => {
              setNote((event.currentTarget as HTMLTextAreaElement).value);
              setMissingReason(false);
            }}
            placeholder="what was done, or why the difference is acceptable / a false positive"
          />
        </label>
        <div class="actions-bar">
          {ACTIONS.map((action) => {
            const off = !allowed.includes(action);
            return (
              <button
                key={action}
                type="button"
                data-action={action}
                class={action === allowed[0] ? "primary" : ""}
                disabled={busy || off}
                title={off ? (actionProblem(conflict.status, action, "reason") ?? "") : needsReason(action) ? "needs a reason in the note" : ""}
                onClick={() => void act(action)}
              >
                {LABELS[action]}
              </button>
            );
          })}
        </div>
      </form>
      {outcome ? (
        <div class={`outcome ${outcome.kind}`} role={outcome.kind === "error" ? "alert" : "status"}>
          {outcome.lines.map((line, index) => (
            <p key={index}>{line}</p>
          ))}
        </div>
      ) : null}
    </div>
  );
}
