// Patterns: what the stored history of a time range says about conflicts, as `visibility patterns`
// reports it: the directly-follows graph of event types along causation chains (laid out by
// dagre, with a table of its edges for screen readers), the hot spots and the recurring conflicts.
import type { JSX } from "preact";
import { useMemo } from "preact/hooks";

import type { CandystoreClient } from "../api/candystore";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { useAsync } from "../hooks";
import { formatTimestamp } from "../lib/format";
import {
  analyse,
  buildFlowGraph,
  HISTORY_CAP,
  RANGES,
  readHistory,
  unresolvedByType,
  UNRESOLVED,
  type History,
  type PatternsRange,
  type PatternsReport,
} from "../lib/patterns";
import { edgePath } from "../lib/trace";
import { routeHref } from "../router";

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString("en-US")} ${count === 1 ? one : many}`;
}

function FlowPicture(props: { history: History; report: PatternsReport }): JSX.Element {
  const graph = useMemo(() => buildFlowGraph(props.report, unresolvedByType(props.history.events)), [props.history, props.report]);
  return (
    <div class="graph-scroll">
      {/* The picture repeats the edge table below it, which is what a screen reader reads. */}
      <svg class="flow-graph" width={graph.width} height={graph.height} viewBox={`0 0 ${graph.width} ${graph.height}`} aria-hidden="true">
        <defs>
          <marker
            id="flow-arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="10"
            markerHeight="10"
            markerUnits="userSpaceOnUse"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
          </marker>
        </defs>
        {graph.edges.map((edge) => {
          const middle = edge.points[Math.floor(edge.points.length / 2)];
          return (
            <g class="edge" key={`${edge.from}>${edge.to}`} data-from={edge.from} data-to={edge.to} data-count={edge.count}>
              <title>{`${edge.from} → ${edge.to}: ${edge.count}`}</title>
              <path d={edgePath(edge.points)} marker-end="url(#flow-arrow)" style={{ strokeWidth: edge.weight }} />
              {middle ? (
                <text x={middle.x + 6} y={middle.y} class="edge-label">
                  {edge.count}
                </text>
              ) : null}
            </g>
          );
        })}
        {graph.nodes.map((node) => (
          <g key={node.id} class={`node${node.unresolved ? " unresolved" : ""}`} transform={`translate(${node.x},${node.y})`} data-event-type={node.id}>
            <title>{`${node.id}: ${node.count}`}</title>
            <rect width={node.width} height={node.height} rx={6} />
            <text x={10} y={19} class="node-type">
              {clip(node.id, 36)}
            </text>
            <text x={10} y={36} class="node-meta">
              {node.unresolved ? plural(node.count, "parent") : plural(node.count, "event")}
            </text>
          </g>
        ))}
      </svg>
    </div>
  );
}

function EdgeTable(props: { report: PatternsReport; history: History }): JSX.Element {
  const unresolved = useMemo(() => unresolvedByType(props.history.events), [props.history]);
  const rows = [
    ...props.report.directly_follows.edges,
    ...[...unresolved].map(([to, count]) => ({ from: UNRESOLVED, to, count })),
  ];
  return (
    <div class="table-scroll">
      <table class="grid" aria-label="Directly-follows edges: parent event type, child event type, count">
        <thead>
          <tr>
            <th>Parent type</th>
            <th>Child type</th>
            <th class="number">Count</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((edge) => (
            <tr key={`${edge.from}>${edge.to}`} tabIndex={0}>
              <td data-label="Parent type">{edge.from}</td>
              <td data-label="Child type">{edge.to}</td>
              <td class="number" data-label="Count">
                {edge.count}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One hot-spot table: a name column and its conflicts, busiest first. */
function HotSpots(props: { title: string; column: string; rows: readonly { name: string; conflicts: number }[] }): JSX.Element {
  return (
    <div class="table-scroll">
      <table class="grid hot-spots" aria-label={`Conflicts by ${props.title.toLowerCase()}`}>
        <caption>{props.title}</caption>
        <thead>
          <tr>
            <th>{props.column}</th>
            <th class="number">Conflicts</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={row.name} tabIndex={0}>
              <td data-label={props.column}>{row.name}</td>
              <td class="number" data-label="Conflicts">
                {row.conflicts}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RecurringTable(props: { report: PatternsReport }): JSX.Element {
  if (props.report.recurring.length === 0) return <p class="muted">No conflict was seen more than once.</p>;
  return (
    <div class="table-scroll">
      <table class="grid" aria-label="Recurring conflicts">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Product</th>
            <th>Store</th>
            <th>Teams</th>
            <th class="number">Conflicts</th>
            <th class="number">Occurrences</th>
            <th>First seen</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {props.report.recurring.map((item) => (
            <tr key={`${item.rule}|${item.product_id}|${item.store_id}|${item.teams.join(",")}`} tabIndex={0}>
              <td data-label="Rule">{item.rule}</td>
              <td data-label="Product">{item.product_id}</td>
              <td data-label="Store">{item.store_id}</td>
              <td data-label="Teams">{item.teams.join(", ") || "—"}</td>
              <td class="number" data-label="Conflicts">
                {item.conflicts}
              </td>
              <td class="number" data-label="Occurrences">
                {item.occurrences}
              </td>
              <td data-label="First seen">{formatTimestamp(item.first_seen)}</td>
              <td data-label="Last seen">{formatTimestamp(item.last_seen)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function PatternsView(props: { history: History }): JSX.Element {
  const report = useMemo(() => analyse(props.history.events), [props.history]);
  const spots = report.hot_spots;
  return (
    <>
      <p role="status">
        {plural(report.events, "event")} read, {plural(report.conflicts, "conflict")} ({plural(report.occurrences, "occurrence")}).
        {props.history.capped ? ` Reading stopped at ${HISTORY_CAP.toLocaleString("en-US")} events: the patterns cover only the oldest of the range.` : ""}
      </p>
      {report.events === 0 ? (
        <Empty title="No conflict or retail events in this range">
          <p>Choose a longer range, or look at the <Link href="/events">Events</Link> page.</p>
        </Empty>
      ) : (
        <>
          <h2>Event-type flow</h2>
          <p class="muted">
            Each box is an event type with its count; each arrow goes from a parent's type to its child's, thicker for more events.
            {report.directly_follows.unresolved_parents > 0 ? " Parents outside the history read are drawn as one box." : ""}
          </p>
          <div class="flow-views">
            <FlowPicture history={props.history} report={report} />
            <EdgeTable report={report} history={props.history} />
          </div>
          <h2>Hot spots</h2>
          <div class="hot-spot-tables">
            <HotSpots title="Team pairs" column="Teams" rows={spots.team_pairs.map((row) => ({ name: row.teams, conflicts: row.conflicts }))} />
            <HotSpots title="Products" column="Product" rows={spots.products.map((row) => ({ name: row.product_id, conflicts: row.conflicts }))} />
            <HotSpots title="Stores" column="Store" rows={spots.stores.map((row) => ({ name: row.store_id, conflicts: row.conflicts }))} />
            <HotSpots title="Rules" column="Rule" rows={spots.rules.map((row) => ({ name: row.rule, conflicts: row.conflicts }))} />
            <HotSpots
              title="Hours (UTC)"
              column="Hour"
              rows={spots.hours.filter((row) => row.conflicts > 0).map((row) => ({ name: `${String(row.hour).padStart(2, "0")}:00`, conflicts: row.conflicts }))}
            />
          </div>
          <h2>Recurring conflicts</h2>
          <RecurringTable report={report} />
        </>
      )}
    </>
  );
}

export function PatternsPage(props: { candystore: CandystoreClient; range: PatternsRange }): JSX.Element {
  const history = useAsync(
    () => readHistory((query) => props.candystore.events(query), new Date(Date.now() - RANGES[props.range].ms)),
    [props.range],
  );
  return (
    <section class="page patterns">
      <div class="toolbar">
        <h1>Patterns</h1>
        <nav aria-label="Time range" class="ranges">
          {(Object.keys(RANGES) as PatternsRange[]).map((range) => (
            <Link key={range} href={routeHref({ page: "patterns", range })} class={range === props.range ? "active" : ""}>
              {RANGES[range].label}
              {range === props.range ? <span class="visually-hidden"> (shown)</span> : null}
            </Link>
          ))}
        </nav>
      </div>
      {history.status === "loading" ? (
        <Loading what="the history" />
      ) : history.status === "error" ? (
        <Failure error={history.error} retry={history.reload} what="the history" />
      ) : (
        <PatternsView history={history.data} />
      )}
    </section>
  );
}
