// Conflicts: where teams' customer-facing decisions contradict each other or the inventory. The OKR
// tiles and the hourly trend on top, the conflicts below (unresolved first by default), refreshed in place.
import type { JSX } from "preact";
import { useCallback, useState } from "preact/hooks";

import type { ConflictQuery as ApiQuery, VisibilityClient } from "../api/visibility";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { severityTone, STATUS_FILTERS, statusTone, type Conflict, type ConflictPage } from "../lib/conflicts";
import { formatNumber, formatTimestamp } from "../lib/format";
import { useInterval, useLatest } from "../hooks";
import { navigate, routeHref, type ConflictQuery } from "../router";
import { ConflictTrend, OkrTiles } from "./conflict-figures";

const REFRESH_MS = 10_000;
const PAGE_SIZE = 100;

function summaryOf(conflict: Conflict): string {
  const summary = (conflict.details as { summary?: unknown } | null)?.summary;
  return typeof summary === "string" ? summary : "(no summary)";
}

function Tabs(props: { query: ConflictQuery }): JSX.Element {
  return (
    <nav class="tabs" aria-label="Conflicts by status">
      {STATUS_FILTERS.map((item) => (
        <Link
          key={item.value}
          href={routeHref({ page: "conflicts", query: { ...props.query, status: item.value } })}
          class={props.query.status === item.value ? "tab active" : "tab"}
        >
          {item.label}
        </Link>
      ))}
    </nav>
  );
}

function Filters(props: { query: ConflictQuery }): JSX.Element {
  const set = (name: "rule" | "team") => (event: Event) =>
    navigate(routeHref({ page: "conflicts", query: { ...props.query, [name]: (event.currentTarget as HTMLInputElement).value } }), {
      replace: true,
    });
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <label>
        Rule <input name="rule" value={props.query.rule} onChange={set("rule")} placeholder="any rule" />
      </label>
      <label>
        Team <input name="team" value={props.query.team} onChange={set("team")} placeholder="any team" />
      </label>
    </form>
  );
}

function Row(props: { conflict: Conflict }): JSX.Element {
  const { conflict } = props;
  const href = routeHref({ page: "conflict", id: conflict.conflict_id });
  return (
    <tr data-conflict-id={conflict.conflict_id} class="clickable" onClick={(event) => !(event.target as Element).closest("a") && navigate(href)}>
      <td>
        <span class={`pill ${severityTone(conflict.severity)}`}>{conflict.severity}</span>
      </td>
      <td>{conflict.rule}</td>
      <td class="mono">{conflict.product_id}</td>
      <td class="mono">{conflict.store_id}</td>
      <td>{conflict.teams.join(", ")}</td>
      <td class="number">{formatNumber(conflict.occurrence_count)}</td>
      <td class="nowrap">{formatTimestamp(conflict.detected_at)}</td>
      <td class="reason">
        <Link href={href} title={summaryOf(conflict)}>
          {summaryOf(conflict)}
        </Link>
      </td>
      <td>
        <span class={`pill ${statusTone(conflict.status)}`}>{conflict.status}</span>
        {conflict.escalation.level ? <span class="pill red" title={`escalated to ${conflict.escalation.escalated_to ?? "?"}`}>escalated</span> : null}
      </td>
    </tr>
  );
}

function emptyText(query: ConflictQuery): { title: string; text: string } {
  if (query.rule.trim() || query.team.trim()) return { title: "No conflict matches", text: "Try another status, or clear the rule and team." };
  if (query.status === "unresolved" || query.status === "open") {
    return {
      title: "No unresolved conflicts",
      text: "Every team agrees with the others and with the inventory. A conflict appears here as soon as the detector finds one.",
    };
  }
  return { title: "No conflicts here", text: "Try another status." };
}

/** The list for one query; a new query mounts a new list, so rows of another filter are never shown under it. */
function ConflictList(props: { visibility: VisibilityClient; query: ConflictQuery; round: number }): JSX.Element {
  const { visibility, query } = props;
  const [more, setMore] = useState<ConflictPage[]>([]);
  const [moreError, setMoreError] = useState<string | null>(null);
  const request: ApiQuery = {
    status: query.status === "" ? undefined : query.status,
    rule: query.rule.trim() || undefined,
    team: query.team.trim() || undefined,
    limit: PAGE_SIZE,
  };
  const first = useLatest(async () => {
    const page = await visibility.conflicts(request);
    setMore([]);
    return page;
  }, [visibility, props.round]);
  const pages = first.data ? [first.data, ...more] : [];
  const items = pages.flatMap((page) => page.items);
  const next = pages.at(-1)?.next_cursor ?? null;
  const loadMore = async (): Promise<void> => {
    if (next === null) return;
    try {
      const page = await visibility.conflicts({ ...request, cursor: next });
      setMore([...more, page]);
    } catch (error) {
      setMoreError((error as Error).message);
    }
  };
  if (first.data === undefined) {
    return first.error ? <Failure error={first.error} retry={first.reload} what="the conflicts" /> : <Loading what="conflicts" />;
  }
  if (items.length === 0) {
    const empty = emptyText(query);
    return (
      <Empty title={empty.title}>
        <p>{empty.text}</p>
      </Empty>
    );
  }
  return (
    <>
      {first.error ? (
        <p class="outcome error" role="status">
          Could not refresh: {first.error.message}
        </p>
      ) : null}
      <table class="grid conflict-list">
        <thead>
          <tr>
            <th>Severity</th>
            <th>Rule</th>
            <th>Product</th>
            <th>Store</th>
            <th>Teams</th>
            <th class="number">Seen</th>
            <th>Detected</th>
            <th>What</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((conflict) => (
            <Row key={conflict.conflict_id} conflict={conflict} />
          ))}
        </tbody>
      </table>
      {moreError ? <p class="outcome error">{moreError}</p> : null}
      {next !== null ? (
        <button type="button" class="more" onClick={loadMore}>
          Load more
        </button>
      ) : null}
    </>
  );
}

export function ConflictsPage(props: { visibility: VisibilityClient; query: ConflictQuery }): JSX.Element {
  const { visibility, query } = props;
  const [round, setRound] = useState(0);
  useInterval(
    useCallback(() => setRound((n) => n + 1), []),
    REFRESH_MS,
  );
  return (
    <section class="page conflicts">
      <div class="toolbar">
        <h1>Conflicts</h1>
        <Tabs query={query} />
        <span class="muted refresh">Refreshed every {REFRESH_MS / 1000} s</span>
      </div>
      <div class="figures">
        <OkrTiles visibility={visibility} round={round} />
        <ConflictTrend visibility={visibility} round={round} />
      </div>
      <Filters query={query} />
      <ConflictList key={routeHref({ page: "conflicts", query })} visibility={visibility} query={query} round={round} />
    </section>
  );
}
