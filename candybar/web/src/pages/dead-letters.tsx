// Dead letters: why events failed, where and how often; replay one, a selection or everything
// matching; discard with a reason. Candystore keeps every row for audit.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { CandystoreClient, DeadLetter, DeadLetterFilter, DeadLetterPage, ReplayResponse } from "../api/candystore";
import { MAX_REPLAY } from "../api/candystore";
import { ActorField } from "../components/actor-field";
import { Link } from "../components/link";
import { Empty, Failure, Loading, failureText } from "../components/states";
import { actorToSend, loadActor } from "../lib/actor";
import { TYPE_PATTERN_HINT } from "../lib/filters";
import { formatNumber, formatTimestamp } from "../lib/format";
import { useAsync } from "../hooks";
import { navigate, routeHref, type DeadLetterQuery } from "../router";

const STATES = [
  { value: "open", label: "Open" },
  { value: "resolved", label: "Replayed" },
  { value: "discarded", label: "Discarded" },
  { value: "", label: "All" },
] as const;

type Outcome = { kind: "ok" | "error"; text: string } | null;

export function describeReplay(result: ReplayResponse): Outcome {
  const failed = result.results.filter((item) => item.outcome !== "replayed");
  if (result.results.length === 0) return { kind: "ok", text: "Nothing to replay: no open dead letter matches." };
  const text =
    `Replayed ${result.replayed} of ${result.results.length}.` +
    (failed.length > 0 ? ` Not replayed: ${failed.map((item) => `${item.id.slice(0, 8)} (${item.reason ?? item.outcome})`).join(", ")}` : "");
  return { kind: failed.length > 0 ? "error" : "ok", text };
}

function filterOf(query: DeadLetterQuery): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (query.consumer.trim()) filter.consumer = query.consumer.trim();
  if (query.eventType.trim()) filter.event_type = query.eventType.trim();
  if (query.reason.trim()) filter.reason = query.reason.trim();
  return filter;
}

function Filters(props: { query: DeadLetterQuery }): JSX.Element {
  const set = (name: keyof DeadLetterQuery) => (event: Event) =>
    navigate(routeHref({ page: "dead-letters", query: { ...props.query, [name]: (event.currentTarget as HTMLInputElement).value } }), {
      replace: true,
    });
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <label>
        Consumer <input name="consumer" value={props.query.consumer} onChange={set("consumer")} placeholder="any" />
      </label>
      <label>
        Event type{" "}
        <input
          name="event_type"
          value={props.query.eventType}
          onChange={set("eventType")}
          placeholder="retail.# or exact"
          title={TYPE_PATTERN_HINT}
        />
      </label>
      <label class="grow">
        Reason contains <input name="reason" value={props.query.reason} onChange={set("reason")} placeholder="text of the error" />
      </label>
    </form>
  );
}

function Counts(props: { candystore: CandystoreClient; query: DeadLetterQuery; round: number }): JSX.Element {
  const stats = useAsync(() => props.candystore.stats(), [props.round]);
  const counts = stats.status === "ok" ? stats.data.dead_letters : null;
  return (
    <nav class="tabs" aria-label="Dead letters by state">
      {STATES.map((state) => {
        const count = counts && state.value !== "" ? counts[state.value] : counts ? counts.open + counts.resolved + counts.discarded : null;
        return (
          <Link
            key={state.value}
            href={routeHref({ page: "dead-letters", query: { ...props.query, state: state.value } })}
            class={props.query.state === state.value ? "tab active" : "tab"}
          >
            {state.label} <span class="count">{count === null ? "…" : formatNumber(count)}</span>
          </Link>
        );
      })}
    </nav>
  );
}

export function DeadLettersPage(props: { candystore: CandystoreClient; query: DeadLetterQuery }): JSX.Element {
  const { candystore, query } = props;
  const [round, setRound] = useState(0);
  const [pages, setPages] = useState<DeadLetterPage[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [actor, setActor] = useState(loadActor);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [busy, setBusy] = useState(false);
  const [confirmAll, setConfirmAll] = useState(false);
  const [discardReason, setDiscardReason] = useState<string | null>(null);
  const request = {
    state: (query.state || undefined) as DeadLetter["state"] | undefined,
    consumer: query.consumer.trim() || undefined,
    event_type: query.eventType.trim() || undefined,
    reason: query.reason.trim() || undefined,
    limit: 100,
  };
  const first = useAsync(async () => {
    const page = await candystore.deadLetters(request);
    setPages([page]);
    setSelected(new Set());
    return page;
  }, [query.state, query.consumer, query.eventType, query.reason, round]);
  const items = pages.flatMap((page) => page.items);
  const next = pages.at(-1)?.next_cursor ?? null;
  const openSelected = items.filter((item) => selected.has(item.id) && item.state === "open");
  const sentActor = actorToSend(actor);
  const noActor = sentActor === "";

  const act = async (work: () => Promise<Outcome>): Promise<void> => {
    setBusy(true);
    try {
      setOutcome(await work());
    } catch (error) {
      setOutcome({ kind: "error", text: failureText(error) });
    } finally {
      setBusy(false);
      setConfirmAll(false);
      setDiscardReason(null);
      setRound((n) => n + 1);
    }
  };
  const replaySelected = () => act(async () => describeReplay(await candystore.replay({ ids: openSelected.map((item) => item.id) }, sentActor)));
  const replayMatching = () => act(async () => describeReplay(await candystore.replay({ filter: filterOf(query) }, sentActor)));
  const discardSelected = (reason: string) =>
    act(async () => {
      for (const item of openSelected) await candystore.discard(item.id, reason, sentActor);
      return { kind: "ok", text: `Discarded ${openSelected.length}: kept for audit with your reason.` };
    });
  const toggle = (id: string): void => {
    const copy = new Set(selected);
    if (copy.has(id)) copy.delete(id);
    else copy.add(id);
    setSelected(copy);
  };
  const toggleAll = (): void => {
    const open = items.filter((item) => item.state === "open").map((item) => item.id);
    setSelected(open.every((id) => selected.has(id)) ? new Set() : new Set(open));
  };
  const more = async (): Promise<void> => {
    if (next === null) return;
    try {
      const page = await candystore.deadLetters({ ...request, cursor: next });
      setPages([...pages, page]);
    } catch (error) {
      setOutcome({ kind: "error", text: failureText(error) });
    }
  };

  return (
    <section class="page dead-letters">
      <div class="toolbar">
        <h1>Dead letters</h1>
        <Counts candystore={candystore} query={query} round={round} />
        <ActorField class="actor" value={actor} onInput={setActor} />
      </div>
      <Filters query={query} />
      <div class="actions-bar">
        <button type="button" class="primary" disabled={busy || openSelected.length === 0 || noActor} onClick={replaySelected}>
          Replay selected ({openSelected.length})
        </button>
        <button type="button" disabled={busy || openSelected.length === 0} onClick={() => setDiscardReason("")}>
          Discard selected…
        </button>
        <button type="button" disabled={busy || noActor} onClick={() => setConfirmAll(true)}>
          Replay all matching…
        </button>
        {confirmAll ? (
          <span class="confirm" role="alertdialog" aria-label="Confirm replay">
            Replay every open dead letter matching these filters (up to {MAX_REPLAY})?{" "}
            <button type="button" class="danger" onClick={replayMatching} disabled={busy}>
              Replay them
            </button>{" "}
            <button type="button" onClick={() => setConfirmAll(false)}>
              Cancel
            </button>
          </span>
        ) : null}
        {discardReason !== null ? (
          <form
            class="confirm"
            onSubmit={(event) => {
              event.preventDefault();
              if (discardReason.trim()) void discardSelected(discardReason.trim());
            }}
          >
            <label>
              Why discard {openSelected.length}?{" "}
              <input required value={discardReason} onInput={(event) => setDiscardReason((event.currentTarget as HTMLInputElement).value)} placeholder="reason, kept for audit" />
            </label>{" "}
            <button type="submit" class="danger" disabled={busy || !discardReason.trim()}>
              Discard
            </button>{" "}
            <button type="button" onClick={() => setDiscardReason(null)}>
              Cancel
            </button>
          </form>
        ) : null}
      </div>
      {outcome ? (
        <p class={`outcome ${outcome.kind}`} role="status">
          {outcome.text}
        </p>
      ) : null}
      {first.status === "loading" && pages.length === 0 ? (
        <Loading what="dead letters" />
      ) : first.status === "error" ? (
        <Failure error={first.error} retry={first.reload} what="dead letters" />
      ) : items.length === 0 ? (
        <Empty title={query.state === "open" ? "No open dead letters" : "No dead letters match"}>
          <p>
            {query.state === "open"
              ? "Every event was handled. An event a consumer gives up on (after its retries, or at once when it is invalid) appears here with the reason."
              : "Try another state or loosen the filters."}
          </p>
        </Empty>
      ) : (
        <>
          <table class="grid">
            <thead>
              <tr>
                <th>
                  <input type="checkbox" aria-label="Select all open" onChange={toggleAll} />
                </th>
                <th>Failed</th>
                <th>Event type</th>
                <th>Consumer</th>
                <th>Attempts</th>
                <th>Reason</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={item.id} class={selected.has(item.id) ? "selected" : ""} data-dead-letter-id={item.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${item.id}`}
                      disabled={item.state !== "open"}
                      checked={selected.has(item.id)}
                      onChange={() => toggle(item.id)}
                    />
                  </td>
                  <td class="nowrap">{formatTimestamp(item.failed_at ?? item.received_at)}</td>
                  <td>{item.event_type ?? "—"}</td>
                  <td>{item.consumer ?? "—"}</td>
                  <td class="number">{item.attempts ?? "—"}</td>
                  <td class="reason">
                    <Link href={routeHref({ page: "dead-letter", id: item.id })}>{item.error ?? "(no reason recorded)"}</Link>
                  </td>
                  <td>
                    <span class={`pill ${item.state === "open" ? "amber" : item.state === "resolved" ? "green" : "grey"}`}>{item.state}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {next !== null ? (
            <button type="button" class="more" onClick={more}>
              Load more
            </button>
          ) : null}
        </>
      )}
    </section>
  );
}
