// Conflicts: where teams' customer-facing decisions contradict each other or the inventory. The OKR
// tiles and the hourly trend on top, the conflicts below (unresolved first by default), refreshed in place.
// The filters (rule, team, product, store) live in the address, so a filtered list can be linked to;
// the rows can be selected (one by one, or all loaded) and acted on together with one note.
import type { JSX } from "preact";
import { useCallback, useState } from "preact/hooks";

import type { ConflictQuery as ApiQuery, VisibilityClient } from "../api/visibility";
import { BulkActions } from "../components/conflict-bulk-actions";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { severityTone, STATUS_FILTERS, statusTone, type Conflict, type ConflictPage } from "../lib/conflicts";
import { formatNumber, formatTimestamp } from "../lib/format";
import { useInterval, useLatest } from "../hooks";
import { navigate, routeHref, type ConflictQuery } from "../router";
import { ConflictTrend, FlaggedRules, OkrTiles } from "./conflict-figures";

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

const FILTER_FIELDS = [
  { name: "rule", label: "Rule", placeholder: "any rule" },
  { name: "team", label: "Team", placeholder: "any team" },
  { name: "product_id", label: "Product", placeholder: "any product" },
  { name: "store_id", label: "Store", placeholder: "any store" },
] as const;

function Filters(props: { query: ConflictQuery }): JSX.Element {
  const set = (name: (typeof FILTER_FIELDS)[number]["name"]) => (event: Event) =>
    navigate(routeHref({ page: "conflicts", query: { ...props.query, [name]: (event.currentTarget as HTMLInputElement).value } }), {
      replace: true,
    });
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      {FILTER_FIELDS.map((field) => (
        <label key={field.name}>
          {field.label} <input name={field.name} value={props.query[field.name]} onChange={set(field.name)} placeholder={field.placeholder} />
        </label>
      ))}
    </form>
  );
}

function nameOf(conflict: Conflict): string {
  return `${conflict.rule}, product ${conflict.product_id} at ${conflict.store_id}`;
}

function Row(props: { conflict: Conflict; selected: boolean; onSelect: (selected: boolean) => void }): JSX.Element {
  const { conflict } = props;
  const href = routeHref({ page: "conflict", id: conflict.conflict_id });
  return (
    <tr
      data-conflict-id={conflict.conflict_id}
      class={props.selected ? "clickable selected" : "clickable"}
      onClick={(event) => !(event.target as Element).closest("a, input, .select") && navigate(href)}
    >
      <td class="select">
        <input
          type="checkbox"
          data-select={conflict.conflict_id}
          checked={props.selected}
          aria-label={`Select ${nameOf(conflict)}`}
          onChange={(event) => props.onSelect((event.currentTarget as HTMLInputElement).checked)}
        />
      </td>
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
  if (FILTER_FIELDS.some((field) => query[field.name].trim() !== "")) {
    return { title: "No conflict matches", text: "Try another status, or clear the rule, team, product and store." };
  }
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
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [acted, setActed] = useState(false);
  const request: ApiQuery = {
    status: query.status === "" ? undefined : query.status,
    rule: query.rule.trim() || undefined,
    team: query.team.trim() || undefined,
    product_id: query.product_id.trim() || undefined,
    store_id: query.store_id.trim() || undefined,
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
  const select = (ids: string[], on: boolean): void => {
    const next = new Set(selected);
    for (const id of ids) {
      if (on) next.add(id);
      else next.delete(id);
    }
    setSelected(next);
  };
  const byId = new Map(items.map((conflict) => [conflict.conflict_id, conflict]));
  const chosen = [...selected].filter((id) => byId.has(id)); // only what is shown is acted on
  const bulk =
    items.length > 0 || acted ? (
      <BulkActions
        visibility={visibility}
        selected={chosen}
        describe={(id) => {
          const conflict = byId.get(id);
          return conflict ? nameOf(conflict) : `conflict ${id}`;
        }}
        onClear={() => setSelected(new Set())}
        onApplied={(ids) => {
          setActed(true);
          select(ids, false);
          first.reload();
        }}
      />
    ) : null;
  if (items.length === 0) {
    const empty = emptyText(query);
    return (
      <>
        {bulk}
        <Empty title={empty.title}>
          <p>{empty.text}</p>
        </Empty>
      </>
    );
  }
  const allSelected = items.every((conflict) => selected.has(conflict.conflict_id));
  const someSelected = !allSelected && items.some((conflict) => selected.has(conflict.conflict_id));
  return (
    <>
      {bulk}
      {first.error ? (
        <p class="outcome error" role="status">
          Could not refresh: {first.error.message}
        </p>
      ) : null}
      <div class="table-scroll">
        <table class="grid conflict-list">
          <thead>
            <tr>
              <th class="select">
                <input
                  type="checkbox"
                  name="select-all"
                  checked={allSelected}
                  indeterminate={someSelected}
                  aria-label={`Select all ${items.length} conflicts on the page`}
                  onChange={(event) =>
                    select(
                      items.map((conflict) => conflict.conflict_id),
                      (event.currentTarget as HTMLInputElement).checked,
                    )
                  }
                />
              </th>
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
              <Row
                key={conflict.conflict_id}
                conflict={conflict}
                selected={selected.has(conflict.conflict_id)}
                onSelect={(on) => select([conflict.conflict_id], on)}
              />
            ))}
          </tbody>
        </table>
      </div>
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
      <FlaggedRules visibility={visibility} round={round} />
      <div class="figures">
        <OkrTiles visibility={visibility} round={round} />
        <ConflictTrend visibility={visibility} round={round} />
      </div>
      <Filters query={query} />
      <ConflictList key={routeHref({ page: "conflicts", query })} visibility={visibility} query={query} round={round} />
    </section>
  );
}
