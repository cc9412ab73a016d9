// One conflict: what contradicts what, the evidence side by side, the actions taken and to take, and
// the way to its trace (the detected event, whose parents are the events that make up the conflict).
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

import type { VisibilityClient } from "../api/visibility";
import { ConflictActions } from "../components/conflict-actions";
import { EvidenceTable } from "../components/evidence-table";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { isUnresolved, severityTone, statusTone, type ActionRecord, type Conflict, type ConflictDetail } from "../lib/conflicts";
import { formatDuration, formatNumber, formatTimestamp } from "../lib/format";
import { isUuid } from "../lib/ids";
import { useLatest } from "../hooks";
import { NO_CONFLICT_QUERY, routeHref } from "../router";

function summaryOf(conflict: Conflict): string | null {
  const summary = (conflict.details as { summary?: unknown } | null)?.summary;
  return typeof summary === "string" ? summary : null;
}

function Facts(props: { conflict: Conflict }): JSX.Element {
  const { conflict } = props;
  const detect = Date.parse(conflict.detected_at) - Date.parse(conflict.occurred_at);
  return (
    <div class="card facts">
      <h2>The conflict</h2>
      <dl>
        <dt>rule</dt>
        <dd>
          {conflict.rule} <span class="muted">v{conflict.rule_version}</span>
        </dd>
        <dt>product</dt>
        <dd>{conflict.product_id}</dd>
        <dt>store</dt>
        <dd>{conflict.store_id}</dd>
        <dt>teams</dt>
        <dd>{conflict.teams.join(", ")}</dd>
        <dt>seen</dt>
        <dd>
          {formatNumber(conflict.occurrence_count)} time{conflict.occurrence_count === 1 ? "" : "s"}
        </dd>
        <dt>occurred</dt>
        <dd>{formatTimestamp(conflict.occurred_at)}</dd>
        <dt>detected</dt>
        <dd>
          {formatTimestamp(conflict.detected_at)}
          {Number.isNaN(detect) ? "" : ` (after ${formatDuration(Math.max(0, detect))})`}
        </dd>
        <dt>customer saw it</dt>
        <dd>{conflict.customer_facing ? "yes" : "no"}</dd>
        {conflict.escalation.level ? (
          <>
            <dt>escalated</dt>
            <dd>
              to {conflict.escalation.escalated_to ?? "—"} ({conflict.escalation.level}) at {formatTimestamp(conflict.escalation.escalated_at)}
            </dd>
          </>
        ) : null}
        <dt>source events</dt>
        <dd class="sources">
          {conflict.source_event_ids.map((id) =>
            isUuid(id) ? (
              <Link key={id} href={routeHref({ page: "event", id })}>
                {id}
              </Link>
            ) : (
              <span key={id}>{id}</span>
            ),
          )}
        </dd>
        <dt>conflict id</dt>
        <dd>{conflict.conflict_id}</dd>
      </dl>
    </div>
  );
}

function History(props: { actions: readonly ActionRecord[] }): JSX.Element {
  return (
    <div class="card history">
      <h2>What was done</h2>
      {props.actions.length === 0 ? (
        <p class="muted">Nothing yet: nobody has acknowledged this conflict.</p>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>When</th>
              <th>Action</th>
              <th>By</th>
              <th>Note</th>
              <th>Status after</th>
            </tr>
          </thead>
          <tbody>
            {props.actions.map((action, index) => (
              <tr key={index} data-action={action.action}>
                <td class="nowrap">{formatTimestamp(action.at)}</td>
                <td>{action.action}</td>
                <td>{action.actor}</td>
                <td class="note-text">{action.note ?? "—"}</td>
                <td>{action.status_after}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function ConflictPage(props: { id: string; visibility: VisibilityClient }): JSX.Element {
  const { id, visibility } = props;
  const answer = useLatest(() => visibility.conflict(id), [visibility, id]);
  const [latest, setLatest] = useState<ConflictDetail | null>(null);
  useEffect(() => setLatest(null), [id, answer.data]);
  const conflict = latest ?? answer.data;
  if (conflict === undefined || conflict.conflict_id !== id) {
    if (answer.error && "notFound" in answer.error && answer.error.notFound) {
      return (
        <Empty title="No such conflict">
          <p>
            The visibility layer knows no conflict <code>{id}</code>. See the <Link href={routeHref({ page: "conflicts", query: NO_CONFLICT_QUERY })}>conflicts</Link>.
          </p>
        </Empty>
      );
    }
    return answer.error ? <Failure error={answer.error} retry={answer.reload} what="the conflict" /> : <Loading what="the conflict" />;
  }
  const summary = summaryOf(conflict);
  return (
    <section class="page conflict">
      <div class="toolbar">
        <h1>Conflict</h1>
        <span class={`pill ${statusTone(conflict.status)}`} data-status={conflict.status}>
          {conflict.status}
        </span>
        <span class={`pill ${severityTone(conflict.severity)}`}>{conflict.severity}</span>
        {conflict.escalation.level && isUnresolved(conflict.status) ? <span class="pill red">escalated</span> : null}
        <Link href={routeHref({ page: "trace", id: conflict.detected_event_id })} class="button trace-link" title="The detected event and the events that caused it">
          Trace
        </Link>
        <Link href={routeHref({ page: "conflicts", query: NO_CONFLICT_QUERY })}>All conflicts</Link>
      </div>
      {summary ? <p class="summary">{summary}</p> : null}
      <div class="conflict-grid">
        <div class="column">
          <div class="card evidence-card">
            <h2>Evidence</h2>
            <EvidenceTable details={conflict.details} />
          </div>
          <ConflictActions
            key={conflict.conflict_id}
            conflict={conflict}
            visibility={visibility}
            onChanged={(after) => (after ? setLatest(after) : answer.reload())}
          />
          <History actions={conflict.actions} />
        </div>
        <Facts conflict={conflict} />
      </div>
    </section>
  );
}
