// Replay: republish stored events chosen by a time range, a type pattern and optionally a source.
// "Count" asks how many match (a dry run); "Replay…" asks for confirmation, starts the replay and
// follows its progress. The replay's id is in the address, so a reload keeps following it.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

import { ApiError } from "../api/http";
import type { OperationsClient, ReplayProgress } from "../api/operations";
import { ActorField } from "../components/actor-field";
import { failureText } from "../components/states";
import { actorToSend, loadActor } from "../lib/actor";
import { TYPE_PATTERN_HINT } from "../lib/filters";
import { formatNumber, formatTimestamp } from "../lib/format";
import {
  formProblemsOf,
  NO_REPLAY_FORM,
  progressRatio,
  progressText,
  replayFiltersOf,
  type FormProblem,
  type ReplayForm,
} from "../lib/replay";
import { navigate, routeHref } from "../router";

/** How often a running replay's progress is read. */
export const PROGRESS_POLL_MS = 1_000;

type Outcome = { kind: "ok" | "error"; text: string } | null;

function Field(props: {
  name: keyof ReplayForm;
  label: string;
  type?: "text" | "datetime-local";
  form: ReplayForm;
  problems: FormProblem[];
  placeholder?: string;
  title?: string;
  onInput: (name: keyof ReplayForm, value: string) => void;
}): JSX.Element {
  const problem = props.problems.find((item) => item.field === props.name);
  const hint = `replay-${props.name}-problem`;
  const common = {
    name: props.name,
    value: props.form[props.name],
    placeholder: props.placeholder,
    title: props.title,
    "aria-invalid": problem ? ("true" as const) : undefined,
    "aria-describedby": problem ? hint : undefined,
    onInput: (event: Event) => props.onInput(props.name, (event.currentTarget as HTMLInputElement).value),
  };
  return (
    <label class="field">
      <span>{props.label}</span>
      {props.type === "datetime-local" ? <input type="datetime-local" {...common} /> : <input type="text" {...common} />}
      {problem ? (
        <span class="field-problem" id={hint}>
          {problem.message}
        </span>
      ) : null}
    </label>
  );
}

function Progress(props: { progress: ReplayProgress }): JSX.Element {
  const { progress } = props;
  const percent = Math.round(progressRatio(progress) * 100);
  return (
    <div class={`card replay-progress ${progress.state}`} data-replay-state={progress.state} aria-live="polite">
      <h2>Replay {progress.replay_id.slice(0, 8)}</h2>
      <progress max={100} value={percent} aria-label="Replay progress">
        {percent}%
      </progress>
      <p class="progress-text">{progressText(progress)}</p>
      <dl class="inline">
        <dt>Matched</dt>
        <dd>{formatNumber(progress.matched)}</dd>
        <dt>Published</dt>
        <dd data-figure="published">{formatNumber(progress.published)}</dd>
        <dt>Failed</dt>
        <dd>{formatNumber(progress.failed + progress.invalid)}</dd>
        <dt>Started</dt>
        <dd>
          {formatTimestamp(progress.started_at)} by {progress.actor}
        </dd>
        {progress.finished_at ? (
          <>
            <dt>Finished</dt>
            <dd>{formatTimestamp(progress.finished_at)}</dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}

/** The progress of replay `id`, read again every PROGRESS_POLL_MS until it is done. */
function useProgress(operations: OperationsClient, id: string | null): { progress: ReplayProgress | null; error: string | null } {
  const [progress, setProgress] = useState<ReplayProgress | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setProgress(null);
    setError(null);
    if (id === null) return;
    let current = true;
    let handle: number | undefined;
    const read = async (): Promise<void> => {
      try {
        const answer = await operations.replayProgress(id);
        if (!current) return;
        setProgress(answer);
        setError(null);
        if (!answer.done) handle = window.setTimeout(read, PROGRESS_POLL_MS);
      } catch (failure) {
        if (!current) return;
        setError(failureText(failure));
        handle = window.setTimeout(read, PROGRESS_POLL_MS * 5);
      }
    };
    void read();
    return () => {
      current = false;
      window.clearTimeout(handle);
    };
  }, [operations, id]);
  return { progress, error };
}

export function ReplayPage(props: { operations: OperationsClient; replayId: string | null }): JSX.Element {
  const { operations } = props;
  const [form, setForm] = useState<ReplayForm>(NO_REPLAY_FORM);
  const [problems, setProblems] = useState<FormProblem[]>([]);
  const [count, setCount] = useState<number | null>(null);
  const [actor, setActor] = useState(loadActor);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const { progress, error } = useProgress(operations, props.replayId);
  const sentActor = actorToSend(actor);

  const edit = (name: keyof ReplayForm, value: string): void => {
    setForm({ ...form, [name]: value });
    setCount(null);
    setConfirming(false);
  };
  const checked = (): ReturnType<typeof replayFiltersOf> | null => {
    const read = replayFiltersOf(form);
    setProblems(read.problems);
    return read.problems.length === 0 ? read : null;
  };
  const run = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setOutcome(null);
    try {
      await work();
    } catch (failure) {
      setOutcome({ kind: "error", text: failureText(failure) });
      if (failure instanceof ApiError) setProblems(formProblemsOf(failure.problems));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };
  const countMatching = async (): Promise<number | null> => {
    const read = checked();
    if (read === null) return null;
    const matched = await operations.countReplay(read.filters);
    setCount(matched);
    return matched;
  };
  const onCount = () => run(async () => void (await countMatching()));
  const onAsk = () =>
    run(async () => {
      const matched = count ?? (await countMatching());
      if (matched !== null) setConfirming(true);
    });
  const onReplay = () =>
    run(async () => {
      const read = checked();
      if (read === null) return;
      const started = await operations.startReplay(read.filters, sentActor);
      setConfirming(false);
      setOutcome({ kind: "ok", text: `Replay started: ${formatNumber(started.matched)} events matched.` });
      navigate(routeHref({ page: "replay", id: started.replay_id }), { replace: props.replayId !== null });
    });

  return (
    <section class="page replay">
      <div class="toolbar">
        <h1>Replay</h1>
        <ActorField class="actor" value={actor} onInput={setActor} />
      </div>
      <p class="muted">
        Republish stored events to the bus, marked as replays. They keep their ids, so a consumer that already handled one absorbs
        it as a duplicate.
      </p>
      <form
        class="replay-form"
        aria-label="Events to replay"
        onSubmit={(event) => {
          event.preventDefault();
          void onCount();
        }}
      >
        <Field name="since" label="From" type="datetime-local" form={form} problems={problems} onInput={edit} />
        <Field name="until" label="Until (exclusive)" type="datetime-local" form={form} problems={problems} onInput={edit} />
        <Field
          name="eventType"
          label="Event type"
          form={form}
          problems={problems}
          placeholder="retail.# or exact"
          title={TYPE_PATTERN_HINT}
          onInput={edit}
        />
        <Field name="sourceApp" label="Source app (optional)" form={form} problems={problems} placeholder="any" onInput={edit} />
        <div class="actions-bar">
          <button type="submit" disabled={busy}>
            Count
          </button>
          <button type="button" class="primary" disabled={busy || confirming || sentActor === ""} onClick={onAsk}>
            Replay…
          </button>
          {count !== null ? (
            <span class="replay-count" role="status" data-count={count}>
              {formatNumber(count)} {count === 1 ? "event matches" : "events match"}
            </span>
          ) : null}
        </div>
      </form>
      {confirming && count !== null ? (
        <div class="confirm" role="alertdialog" aria-label="Confirm replay">
          {count === 0 ? (
            <>
              Nothing matches: there is nothing to replay.{" "}
              <button type="button" onClick={() => setConfirming(false)}>
                Close
              </button>
            </>
          ) : (
            <>
              Republish {formatNumber(count)} stored {count === 1 ? "event" : "events"} to every consumer bound to {count === 1 ? "it" : "them"}?{" "}
              <button type="button" class="danger" disabled={busy} onClick={onReplay}>
                Replay {formatNumber(count)}
              </button>{" "}
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </>
          )}
        </div>
      ) : null}
      {outcome ? (
        <p class={`outcome ${outcome.kind}`} role="status">
          {outcome.text}
        </p>
      ) : null}
      {error !== null ? (
        <p class="outcome error" role="status">
          Cannot read the replay's progress: {error}
        </p>
      ) : null}
      {progress !== null ? <Progress progress={progress} /> : null}
    </section>
  );
}
