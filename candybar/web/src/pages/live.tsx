// Live: the most recent stored events, then the stream as it happens, filtered and searched, with
// pause and a rate sparkline.
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { describeAccess } from "../api/access";
import { CopyButton } from "../components/copy";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Sparkline } from "../components/sparkline";
import { Empty, Loading } from "../components/states";
import { VirtualList } from "../components/virtual-list";
import type { CheckedEvent } from "../lib/envelope";
import { eventMatcher, isFiltering, NO_FILTERS, TYPE_PATTERN_HINT, type LiveFilters } from "../lib/filters";
import { formatNumber, formatTimestamp } from "../lib/format";
import { isUuid } from "../lib/ids";
import type { LiveConnection } from "../live-connection";
import { navigate, routeHref } from "../router";

const ROW_HEIGHT = 34;

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

function FilterBar(props: { filters: LiveFilters }): JSX.Element {
  const set = (name: keyof LiveFilters) => (event: Event) => {
    const filters = { ...props.filters, [name]: (event.currentTarget as HTMLInputElement).value };
    navigate(routeHref({ page: "live", filters }), { replace: true });
  };
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <label>
        Type{" "}
        <input
          name="type"
          value={props.filters.type}
          onInput={set("type")}
          placeholder="retail.# or exact type"
          title={TYPE_PATTERN_HINT}
        />
      </label>
      <label>
        Source app <input name="source" value={props.filters.source} onInput={set("source")} placeholder="any" />
      </label>
      <label>
        Agent <input name="agent" value={props.filters.agent} onInput={set("agent")} placeholder="any" />
      </label>
      <label class="grow">
        Search payloads <input name="q" type="search" value={props.filters.search} onInput={set("search")} placeholder="text in the payload or id" />
      </label>
      {isFiltering(props.filters) ? (
        <button type="button" onClick={() => navigate(routeHref({ page: "live", filters: NO_FILTERS }), { replace: true })}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}

function Row(props: { event: CheckedEvent; selected: boolean; onSelect: () => void }): JSX.Element {
  const { event } = props;
  const invalid = event.issues.length > 0;
  return (
    <div
      role="listitem"
      class={`event-row${props.selected ? " selected" : ""}${invalid ? " invalid" : ""}`}
      style={{ height: `${ROW_HEIGHT}px` }}
      data-event-id={event.eventId ?? ""}
      onClick={props.onSelect}
      tabIndex={0}
      onKeyDown={(key: KeyboardEvent) => key.key === "Enter" && props.onSelect()}
    >
      <span class="time">{formatTimestamp(event.timestamp).slice(11)}</span>
      <span class="type">{event.eventType}</span>
      <span class="source">{event.sourceApp ?? "—"}</span>
      <span class="agent">{event.agentName ?? ""}</span>
      <span class="id" title={event.eventId ?? "no event id"}>
        {event.eventId ? `…${event.eventId.slice(-12)}` : ""}
      </span>
      {invalid ? <span class="flag" title={event.issues.map((i) => `${i.path}: ${i.message}`).join("\n")}>invalid</span> : null}
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

export function LivePage(props: { connection: LiveConnection; filters: LiveFilters; gatewayUrl: string }): JSX.Element {
  const { connection, filters } = props;
  const version = useConnection(connection);
  const feed = connection.feed;
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const matcher = useMemo(() => eventMatcher(filters), [filters.type, filters.source, filters.agent, filters.search]);
  const shown = useMemo(() => feed.buffer.newestFirst(matcher), [version, matcher]);
  const selected = selectedKey === null ? undefined : shown.find((event) => event.key === selectedKey);
  const rate = feed.rate.series(Date.now());
  const perSecond = rate.slice(-10).reduce((sum, value) => sum + value, 0) / 10;
  const togglePause = (): void => {
    if (feed.paused) feed.resume();
    else feed.pause();
    connection.changed();
  };
  return (
    <section class="page live">
      <div class="toolbar">
        <h1>Live</h1>
        <StatusPill connection={connection} />
        <button type="button" class="primary" onClick={togglePause} aria-pressed={feed.paused}>
          {feed.paused ? `Resume${feed.heldCount > 0 ? ` (${formatNumber(feed.heldCount)} new)` : ""}` : "Pause"}
        </button>
        <button type="button" onClick={() => { feed.clear(); setSelectedKey(null); connection.changed(); }}>
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
      <FilterBar filters={filters} />
      {connection.preload.status === "failed" ? (
        <p class="outcome error preload" role="status">
          The most recent stored events could not be loaded ({connection.preload.reason}); new ones still appear. Retried when the stream reconnects.
        </p>
      ) : null}
      <div class={`split${selected ? " with-detail" : ""}`}>
        {shown.length > 0 ? (
          <VirtualList
            items={shown}
            rowHeight={ROW_HEIGHT}
            label="Events, newest first"
            row={(event) => (
              <Row key={event.key} event={event} selected={event.key === selectedKey} onSelect={() => setSelectedKey(event.key)} />
            )}
          />
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
            <p>or run the platform with demo traffic: <code>33god up --demo</code>.</p>
          </Empty>
        )}
        {selected ? <Detail event={selected} onClose={() => setSelectedKey(null)} /> : null}
      </div>
    </section>
  );
}
