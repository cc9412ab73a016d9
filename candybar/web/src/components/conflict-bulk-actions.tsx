// Acting on the selected conflicts at once: acknowledge, accept or dispute them with one note. The API
// judges each conflict on its own and says what happened to each; the refused and unknown ones are listed
// with its reason, the applied ones leave the selection.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { VisibilityClient } from "../api/visibility";
import { actorToSend, loadActor } from "../lib/actor";
import { BULK_ACTIONS, bulkProblem, bulkSummary, needsReason, type BulkAction, type BulkActionAnswer } from "../lib/conflicts";
import { ActorField } from "./actor-field";
import { linesOf } from "./conflict-actions";

const LABELS: Record<BulkAction, string> = { acknowledge: "Acknowledge", accept: "Accept", dispute: "Dispute" };

type Outcome = { kind: "ok" | "error"; lines: string[] } | null;

function outcomeOf(answer: BulkActionAnswer, describe: (id: string) => string): Outcome {
  const problems = answer.results
    .filter((result) => result.outcome !== "applied")
    .map((result) => `${describe(result.conflict_id)}: ${result.message ?? result.outcome}`);
  return { kind: problems.length === 0 ? "ok" : "error", lines: [bulkSummary(answer), ...problems] };
}

export function BulkActions(props: {
  visibility: VisibilityClient;
  selected: string[];
  /** How a conflict is named in the outcome (product and store). */
  describe: (id: string) => string;
  onClear: () => void;
  /** After an action: the ids it was applied to. */
  onApplied: (ids: string[]) => void;
}): JSX.Element {
  const [actor, setActor] = useState(loadActor);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [missingReason, setMissingReason] = useState(false);
  const count = props.selected.length;

  const act = async (action: BulkAction): Promise<void> => {
    const problem = bulkProblem(action, count, note);
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
      const answer = await props.visibility.actOnMany({
        conflict_ids: props.selected,
        action,
        ...(sent === null ? {} : { actor: sent }),
        note: note.trim() || null,
      });
      setOutcome(outcomeOf(answer, props.describe));
      if (answer.applied > 0) setNote("");
      props.onApplied(answer.results.filter((result) => result.outcome === "applied").map((result) => result.conflict_id));
    } catch (error) {
      setOutcome({ kind: "error", lines: linesOf(error) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card bulk-actions" aria-label="Act on the selected conflicts">
      <form class="act" onSubmit={(event) => event.preventDefault()}>
        <p class="selected-count" role="status">
          {count === 0 ? "Select conflicts to act on several at once." : `${count} selected`}
        </p>
        <label class="note">
          <span>
            Note for all <span class="hint">(the reason, to accept or dispute)</span>
          </span>
          <textarea
            name="bulk-note"
            rows={1}
            value={note}
            aria-invalid={missingReason}
            onInput={(event) => {
              setNote((event.currentTarget as HTMLTextAreaElement).value);
              setMissingReason(false);
            }}
            placeholder="recorded on each conflict"
          />
        </label>
        <ActorField class="inline" value={actor} onInput={setActor} />
        <div class="actions-bar">
          {BULK_ACTIONS.map((action) => (
            <button
              key={action}
              type="button"
              data-bulk-action={action}
              disabled={busy || count === 0}
              title={needsReason(action) ? "needs a reason in the note" : ""}
              onClick={() => void act(action)}
            >
              {LABELS[action]} {count > 0 ? count : ""}
            </button>
          ))}
          <button type="button" class="link-button" disabled={busy || count === 0} onClick={props.onClear}>
            Clear selection
          </button>
        </div>
      </form>
      {outcome ? (
        <div class={`outcome ${outcome.kind}`} role={outcome.kind === "error" ? "alert" : "status"}>
          {outcome.lines.map((line, index) => (
            <p key={index}>{line}</p>
          ))}
        </div>
      ) : null}
    </section>
  );
}
