// Events: live — the most recent stored events, then the stream as it happens, with pause and a rate
// sparkline — or history — stored events of a time range, filtered by Candystore and paged by
// keyset in both directions. Everything the view shows is in its address.
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { describeAccess } from "../api/access";
import type { CandystoreClient, EventQuery } from "../api/candystore";
import { CopyButton } from "../components/copy";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Sparkline } from "../components/sparkline";
import { Empty, Failure, Loading } from "../components/states";
import { VirtualList } from "../components/virtual-list";
import { useLatest } from "../hooks";
import { COLUMNS, columnsOf, loadColumns, saveColumns, type Column } from "../lib/columns";
import { checkEvent, type CheckedEvent } from "../lib/envelope";
import {
  apiFilters,
  cursorAt,
  eventMatcher,
  isFiltering,
  NO_QUERY,
  PAYLOAD_OP_TEXT,
  PAYLOAD_OPS,
  RANGE_TEXT,
  TYPE_PATTERN_HINT,
  type EventsQuery,
  type PayloadCondition,
  type PayloadOp,
  type TimeRange,
} from "../lib/filters";
import { formatNumber } from "../lib/format";
import { isUuid } from "../lib/ids";
import type { LiveConnection } from "../live-connection";
import { navigate, routeHref } from "../router";

const ROW_HEIGHT = 34;
/** Stored events one history page shows. */
const PAGE_SIZE = 50;

function go(query: EventsQuery): void {
  navigate(routeHref({ page: "events", query }), { replace: true });
}

/** The query with `change`, back on the first page: another filter is another list. */
function changed(query: EventsQuery, change: Partial<EventsQuery>): EventsQuery {
  return { ...query, cursor: "", direction: "older", ...change };
}

function useConnection(connection: LiveConnection): number {
  const [, setTick] = useState(0);
  useEffect(() => connection.subscribe(() => setTick((n) => n + 1)), [connection]);
  return connection.feed.version;
}

function StatusPill(props: { connection: LiveConnection }): JSX.Element {
  const { state } = props.connection;
  if (state.status === "open") return <span class="pill green">Live</span>;
  if (state.status === "connecting") return <span class="pill amber">Connecting…</span>;
  if (state.status === "refused") {
    return (
      <span class="pill red" title={state.problem.message} data-refused={state.problem.kind}>
        {describeAccess(state.problem)}{" "}
        <button type="button" class="link" onClick={() => props.connection.reconnect()}>
          retry now
        </button>
      </span>
    );
  }
  const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
  return (
    <span class="pill red" title={state.reason}>
      Disconnected — retrying in {seconds} s{" "}
      <button type="button" class="link" onClick={() => props.connection.reconnect()}>
        retry now
      </button>
    </span>
  );
}

function ModeSwitch(props: { query: EventsQuery }): JSX.Element {
  return (
    <div class="segmented" role="group" aria-label="Mode">
      {(["live", "history"] as const).map((mode) => (
        <button key={mode} type="button" aria-pressed={props.query.mode === mode} onClick={() => go(changed(props.query, { mode }))}>
          {mode === "live" ? "Live" : "History"}
        </button>
      ))}
    </div>
  );
}

/** A UTC time for a `datetime-local` field (which has no zone: the page reads and writes UTC). */
function localField(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().slice(0, 16);
}

function fromLocalField(value: string): string {
  return value === "" ? "" : `${value}:00Z`;
}

function RangePicker(props: { query: EventsQuery }): JSX.Element {
  const { query } = props;
  return (
    <div class="filters range">
      <label>
        Time{" "}
        <select name="range" value={query.range} onChange={(event) => go(changed(query, { range: (event.currentTarget as HTMLSelectElement).value as TimeRange }))}>
          {(Object.keys(RANGE_TEXT) as TimeRange[]).map((range) => (
            <option key={range} value={range}>
              {RANGE_TEXT[range]}
            </option>
          ))}
        </select>
      </label>
      {query.range === "custom" ? (
        <>
          <label>
            From (UTC){" "}
            <input
              type="datetime-local"
              name="since"
              value={localField(query.since)}
              onChange={(event) => go(changed(query, { since: fromLocalField((event.currentTarget as HTMLInputElement).value) }))}
            />
          </label>
          <label>
            Until (UTC){" "}
            <input
              type="datetime-local"
              name="until"
              value={localField(query.until)}
              onChange={(event) => go(changed(query, { until: fromLocalField((event.currentTarget as HTMLInputElement).value) }))}
            />
          </label>
        </>
      ) : null}
    </div>
  );
}

function ConditionRow(props: { condition: PayloadCondition; index: number; onChange: (next: PayloadCondition | null) => void }): JSX.Element {
  const { condition, index } = props;
  const set = (change: Partial<PayloadCondition>): void => props.onChange({ ...condition, ...change });
  return (
    <div class="condition" data-condition={index}>
      <label>
        Payload path{" "}
        <input name="payload-path" value={condition.path} placeholder="store_id or customer.tier" onInput={(event) => set({ path: (event.currentTarget as HTMLInputElement).value })} />
      </label>
      <select aria-label="Condition" name="payload-op" value={condition.op} onChange={(event) => set({ op: (event.currentTarget as HTMLSelectElement).value as PayloadOp })}>
        {PAYLOAD_OPS.map((op) => (
          <option key={op} value={op}>
            {PAYLOAD_OP_TEXT[op]}
          </option>
        ))}
      </select>
      {condition.op === "exists" ? null : (
        <input aria-label="Value" name="payload-value" value={condition.value} placeholder="value" onInput={(event) => set({ value: (event.currentTarget as HTMLInputElement).value })} />
      )}
      <button type="button" aria-label={`Remove condition ${index + 1}`} onClick={() => props.onChange(null)}>
        ×
      </button>
    </div>
  );
}

function FilterBar(props: { query: EventsQuery }): JSX.Element {
  const { query } = props;
  const set = (name: "eventType" | "sourceApp" | "agentName" | "correlationId" | "search") => (event: Event) =>
    go(changed(query, { [name]: (event.currentTarget as HTMLInputElement).value }));
  const setCondition = (index: number) => (next: PayloadCondition | null) =>
    go(changed(query, { payload: next === null ? query.payload.filter((_, at) => at !== index) : query.payload.map((old, at) => (at === index ? next : old)) }));
  return (
    <form class="filter-form" role="search" aria-label="Filter events" onSubmit={(event) => event.preventDefault()}>
      <div class="filters">
        <label>
          Type <input name="event_type" value={query.eventType} onInput={set("eventType")} placeholder="retail.# or exact type" title={TYPE_PATTERN_HINT} />
        </label>
        <label>
          Source app <input name="source_app" value={query.sourceApp} onInput={set("sourceApp")} placeholder="any" />
        </label>
        <label>
          Agent <input name="agent_name" value={query.agentName} onInput={set("agentName")} placeholder="any" />
        </label>
        <label>
          Parent id <input name="correlation_id" value={query.correlationId} onInput={set("correlationId")} placeholder="any" />
        </label>
        {query.mode === "live" ? (
          <label class="grow">
            Search payloads <input name="q" type="search" value={query.search} onInput={set("search")} placeholder="text in the payload or id" />
          </label>
        ) : null}
        <button type="button" onClick={() => go(changed(query, { payload: [...query.payload, { path: "", op: "eq", value: "" }] }))}>
          Add payload condition
        </button>
        {isFiltering(query) ? (
          <button type="button" onClick={() => go({ ...NO_QUERY, mode: query.mode, range: query.range, since: query.since, until: query.until })}>
            Clear filters
          </button>
        ) : null}
      </div>
      {query.payload.map((condition, index) => (
        <ConditionRow key={index} condition={condition} index={index} onChange={setCondition(index)} />
      ))}
    </form>
  );
}

function ColumnPicker(props: { chosen: readonly string[]; onChange: (ids: string[]) => void }): JSX.Element {
  const toggle = (id: string): void => {
    const next = props.chosen.includes(id) ? props.chosen.filter((chosen) => chosen !== id) : [...props.chosen, id];
    if (next.length > 0) props.onChange(COLUMNS.map((column) => column.id).filter((known) => next.includes(known)));
  };
  return (
    <details class="column-picker">
      <summary>Columns</summary>
      <fieldset>
        <legend>Columns shown</legend>
        {COLUMNS.map((column) => (
          <label key={column.id}>
            <input type="checkbox" name={`column-${column.id}`} checked={props.chosen.includes(column.id)} onChange={() => toggle(column.id)} /> {column.label}
          </label>
        ))}
      </fieldset>
    </details>
  );
}

function Cell(props: { column: Column; event: CheckedEvent }): JSX.Element {
  const { column, event } = props;
  return (
    <span class={column.id} title={column.title?.(event)}>
      {column.text(event)}
    </span>
  );
}

function LiveRow(props: { event: CheckedEvent; columns: Column[]; track: string; selected: boolean; onSelect: () => void }): JSX.Element {
  const { event } = props;
  const invalid = event.issues.length > 0;
  return (
    <div
      role="listitem"
      class={`event-row${props.selected ? " selected" : ""}${invalid ? " invalid" : ""}`}
      style={{ height: `${ROW_HEIGHT}px`, gridTemplateColumns: props.track }}
      data-event-id={event.eventId ?? ""}
      onClick={props.onSelect}
      tabIndex={0}
      onKeyDown={(key: KeyboardEvent) => {
        if (key.key !== "Enter") return;
        key.preventDefault();
        props.onSelect();
      }}
    >
      {props.columns.map((column) => (
        <Cell key={column.id} column={column} event={event} />
      ))}
      {invalid ? <span class="flag" title={event.issues.map((i) => `${i.path}: ${i.message}`).join("\n")}>invalid</span> : <span />}
    </div>
  );
}

function Detail(props: { event: CheckedEvent; onClose: () => void }): JSX.Element {
  const { event } = props;
  const linkable = event.eventId !== null && isUuid(event.eventId) && event.issues.length === 0;
  return (
    <aside class="detail" aria-label="Selected event">
      <header>
        <h2>{event.eventType}</h2>
        <button type="button" class="close" onClick={props.onClose} aria-label="Close">
          ×
        </button>
      </header>
      {event.issues.length > 0 ? (
        <div class="issues" role="alert">
          <strong>This event does not match its schema</strong>
          <ul>
            {event.issues.map((issue, index) => (
              <li key={index}>
                <code>{issue.path}</code> {issue.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <p class="actions">
        {linkable ? <Link href={routeHref({ page: "event", id: event.eventId as string })}>Open event</Link> : null}
        {linkable ? <Link href={routeHref({ page: "trace", id: event.eventId as string })}>Trace</Link> : null}
        <CopyButton text={JSON.stringify(event.raw, null, 2) ?? String(event.raw)} label="Copy JSON" />
      </p>
      <JsonTree value={event.raw} open={2} />
    </aside>
  );
}

function LiveView(props: { connection: LiveConnection; query: EventsQuery; columns: Column[]; gatewayUrl: string }): JSX.Element {
  const { connection, query, columns } = props;
  const version = useConnection(connection);
  const feed = connection.feed;
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const filterKey = routeHref({ page: "events", query });
  const matcher = useMemo(() => eventMatcher(query), [filterKey]);
  const shown = useMemo(() => feed.buffer.newestFirst(matcher), [version, matcher]);
  const selected = selectedKey === null ? undefined : shown.find((event) => event.key === selectedKey);
  const rate = feed.rate.series(Date.now());
  const perSecond = rate.slice(-10).reduce((sum, value) => sum + value, 0) / 10;
  const track = `${columns.map((column) => column.track).join(" ")} 56px`;
  const togglePause = (): void => {
    if (feed.paused) feed.resume();
    else feed.pause();
    connection.changed();
  };
  return (
    <>
      <div class="toolbar">
        <StatusPill connection={connection} />
        <button type="button" class="primary" onClick={togglePause} aria-pressed={feed.paused}>
          {feed.paused ? `Resume${feed.heldCount > 0 ? ` (${formatNumber(feed.heldCount)} new)` : ""}` : "Pause"}
        </button>
        <button
          type="button"
          onClick={() => {
            feed.clear();
            setSelectedKey(null);
            connection.changed();
          }}
        >
          Clear
        </button>
        <span class="rate" title="Events per second over the last minute">
          <Sparkline values={rate} label="Events per second, last minute" /> {formatNumber(perSecond, 1)}/s
        </span>
        <span class="counts">
          {formatNumber(shown.length)} shown of {formatNumber(feed.buffer.size)} kept (newest {formatNumber(feed.capacity)})
          {feed.invalid > 0 ? <span class="flag"> {formatNumber(feed.invalid)} invalid</span> : null}
        </span>
      </div>
      {connection.preload.status === "failed" ? (
        <p class="outcome error preload" role="status">
          The most recent stored events could not be loaded ({connection.preload.reason}); new ones still appear. Retried when the stream reconnects.
        </p>
      ) : null}
      <div class={`split${selected ? " with-detail" : ""}`}>
        {shown.length > 0 ? (
          <div class="event-list">
            <div class="event-head" style={{ gridTemplateColumns: track }} aria-hidden="true">
              {columns.map((column) => (
                <span key={column.id}>{column.label}</span>
              ))}
              <span />
            </div>
            <VirtualList
              items={shown}
              rowHeight={ROW_HEIGHT}
              label="Events, newest first"
              row={(event) => (
                <LiveRow key={event.key} event={event} columns={columns} track={track} selected={event.key === selectedKey} onSelect={() => setSelectedKey(event.key)} />
              )}
            />
          </div>
        ) : feed.buffer.size > 0 ? (
          <Empty title="No event matches the filters">
            <p>{formatNumber(feed.buffer.size)} events are kept; none of them matches. Loosen a filter or clear them.</p>
          </Empty>
        ) : connection.preload.status === "loading" ? (
          <Loading what="the most recent events" />
        ) : (
          <Empty title={feed.paused ? "Paused" : "Waiting for events"}>
            <p>Events appear here the moment Candystore stores them. Publish one through the gateway:</p>
            <pre class="command">
              {`curl -s ${props.gatewayUrl}/events -H 'content-type: application/json' \\\n  -d '{"event_type": "n8n.workflow.started.v1", "payload": {…}}'`}
            </pre>
            <p>
              or run the platform with demo traffic: <code>33god up --demo</code>.
            </p>
          </Empty>
        )}
        {selected ? <Detail event={selected} onClose={() => setSelectedKey(null)} /> : null}
      </div>
    </>
  );
}

interface HistoryPage {
  /** Newest first. */
  events: CheckedEvent[];
  /** More events lie beyond this page in the direction it was read. */
  more: boolean;
}

async function loadHistory(candystore: CandystoreClient, query: EventsQuery): Promise<HistoryPage> {
  const named: EventQuery = { limit: PAGE_SIZE };
  const payload: Record<string, string> = {};
  for (const [name, value] of Object.entries(apiFilters(query, Date.now()))) {
    if (name.startsWith("payload.")) payload[name] = value;
    else (named as Record<string, string | number>)[name] = value;
  }
  const newer = query.direction === "newer" && query.cursor !== "";
  if (query.cursor !== "") named.cursor = query.cursor;
  named.order = newer ? "asc" : "desc";
  const page = await candystore.eventsWhere(named, payload);
  const events = page.items.map((item) => checkEvent(item));
  if (newer) events.reverse();
  return { events, more: page.next_cursor !== null && page.next_cursor !== undefined };
}

function pageHref(query: EventsQuery, event: CheckedEvent | undefined, direction: "older" | "newer"): string | null {
  if (event === undefined || event.eventId === null || event.timestamp === null) return null;
  return routeHref({ page: "events", query: { ...query, cursor: cursorAt(event.timestamp, event.eventId), direction } });
}

function Pager(props: { query: EventsQuery; page: HistoryPage }): JSX.Element {
  const { query, page } = props;
  const first = query.cursor === "";
  const hasNewer = query.direction === "newer" ? page.more : !first;
  const hasOlder = query.direction === "older" ? page.more : true;
  const newer = hasNewer ? pageHref(query, page.events[0], "newer") : null;
  const older = hasOlder ? pageHref(query, page.events[page.events.length - 1], "older") : null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={first} onClick={() => go({ ...query, cursor: "", direction: "older" })}>
        Newest
      </button>
      <button type="button" disabled={newer === null} onClick={() => newer && navigate(newer)}>
        ← Newer
      </button>
      <button type="button" disabled={older === null} onClick={() => older && navigate(older)}>
        Older →
      </button>
    </nav>
  );
}

function HistoryView(props: { candystore: CandystoreClient; query: EventsQuery; columns: Column[] }): JSX.Element {
  const { query, columns } = props;
  const href = routeHref({ page: "events", query });
  // The page shown stays while the next loads: typing a filter does not blank the table.
  const answer = useLatest(() => loadHistory(props.candystore, query), [href]);
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  if (answer.error) return <Failure error={answer.error} retry={answer.reload} what="the stored events" />;
  if (answer.data === undefined) return <Loading what="the stored events" />;
  const { events } = answer.data;
  const selected = selectedKey === null ? undefined : events.find((event) => event.key === selectedKey);
  return (
    <>
      <div class="toolbar">
        <span class="counts" aria-busy={answer.loading}>
          {answer.loading ? "Loading… " : ""}
          {formatNumber(events.length)} event{events.length === 1 ? "" : "s"} on this page, newest first
        </span>
        <button type="button" onClick={answer.reload}>
          Refresh
        </button>
        <Pager query={query} page={answer.data} />
      </div>
      {events.length === 0 ? (
        <Empty title="No stored event matches">
          <p>Widen the time range or loosen a filter.</p>
        </Empty>
      ) : (
        <div class={`split${selected ? " with-detail" : ""}`}>
          <div class="table-scroll">
            <table class="grid history">
              <caption class="visually-hidden">Stored events, newest first</caption>
              <thead>
                <tr>
                  {columns.map((column) => (
                    <th key={column.id} scope="col">
                      {column.label}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {events.map((event) => (
                  <tr
                    key={event.key}
                    tabIndex={0}
                    class={`clickable${event.key === selectedKey ? " selected" : ""}${event.issues.length > 0 ? " invalid" : ""}`}
                    data-event-id={event.eventId ?? ""}
                    aria-selected={event.key === selectedKey}
                    onClick={() => setSelectedKey(event.key)}
                    onKeyDown={(key: KeyboardEvent) => {
                      if (key.key !== "Enter" || key.target !== key.currentTarget) return;
                      key.preventDefault();
                      setSelectedKey(event.key);
                    }}
                  >
                    {columns.map((column) => (
                      <td key={column.id} class={column.id} title={column.title?.(event)}>
                        {column.text(event)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {selected ? <Detail event={selected} onClose={() => setSelectedKey(null)} /> : null}
        </div>
      )}
    </>
  );
}

export function EventsPage(props: { connection: LiveConnection; candystore: CandystoreClient; query: EventsQuery; gatewayUrl: string }): JSX.Element {
  const { query } = props;
  const [chosen, setChosen] = useState(loadColumns);
  const columns = columnsOf(chosen);
  const choose = (ids: string[]): void => {
    saveColumns(ids);
    setChosen(ids);
  };
  return (
    <section class={`page events ${query.mode}`}>
      <div class="toolbar">
        <h1>Events</h1>
        <ModeSwitch query={query} />
        {query.mode === "history" ? <RangePicker query={query} /> : null}
        <ColumnPicker chosen={chosen} onChange={choose} />
      </div>
      <FilterBar query={query} />
      {query.mode === "live" ? (
        <LiveView connection={props.connection} query={query} columns={columns} gatewayUrl={props.gatewayUrl} />
      ) : (
        <HistoryView candystore={props.candystore} query={query} columns={columns} />
      )}
    </section>
  );
}
