// Trace: the causation graph around one event (parents above children, time on the edges) beside
// its timeline (each event at its time after the first, indented by depth), and a search that
// picks events out of both by type, id or source.
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";

import type { CandystoreClient } from "../api/candystore";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { formatDuration, formatTimestamp } from "../lib/format";
import { buildTimeline, buildTraceGraph, edgePath, traceMatcher, type GraphNode, type Timeline, type TraceAnswer } from "../lib/trace";
import { useAsync } from "../hooks";
import { navigate, routeHref } from "../router";

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** What the graph and the timeline share: which events the search keeps, which one the pointer is on. */
interface Marks {
  matches: (id: string) => boolean;
  searching: boolean;
  hovered: string | null;
  hover: (id: string | null) => void;
}

function markClasses(id: string, marks: Marks): string {
  if (marks.hovered === id) return " hovered";
  if (!marks.searching) return "";
  return marks.matches(id) ? " match" : " dim";
}

function NodeBox(props: { node: GraphNode; marks: Marks }): JSX.Element {
  const { node, marks } = props;
  const classes = ["node", node.selected ? "selected" : "", node.placeholder ? "placeholder" : ""].join(" ").trim() + markClasses(node.id, marks);
  const box = (
    <>
      <title>{node.placeholder ? `${node.id}: named as a parent, not stored` : `${node.eventType ?? ""}\n${node.id}\n${node.timestamp ?? ""}`}</title>
      <rect width={node.width} height={node.height} rx={6} />
      <text x={10} y={20} class="node-type">
        {clip(node.eventType ?? "(not stored)", 30)}
      </text>
      <text x={10} y={38} class="node-meta">
        {clip(`${node.sourceApp ?? ""} ${node.timestamp ? formatTimestamp(node.timestamp).slice(11) : ""}`.trim(), 34)}
      </text>
      <text x={10} y={52} class="node-id">
        {node.id.slice(0, 18)}…
      </text>
    </>
  );
  const href = routeHref({ page: "event", id: node.id });
  const open = (event: MouseEvent): void => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <g
      class={classes}
      transform={`translate(${node.x},${node.y})`}
      onMouseEnter={() => marks.hover(node.id)}
      onMouseLeave={() => marks.hover(null)}
      data-event-id={node.id}
    >
      {/* A stored event is a real link (named by its text); one only named as a parent is a picture of an id. */}
      {node.placeholder ? (
        <g role="img" aria-label={`${node.id}, named as a parent, not stored`}>
          {box}
        </g>
      ) : (
        <a href={href} onClick={open}>
          {box}
        </a>
      )}
    </g>
  );
}

function Graph(props: { answer: TraceAnswer; id: string; marks: Marks }): JSX.Element {
  const graph = useMemo(() => buildTraceGraph(props.answer, props.id), [props.answer, props.id]);
  return (
    <div class="graph-scroll">
      <svg
        class="trace-graph"
        width={graph.width}
        height={graph.height}
        viewBox={`0 0 ${graph.width} ${graph.height}`}
        role="group"
        aria-label="Causation graph"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
          </marker>
        </defs>
        {graph.edges.map((edge) => {
          const middle = edge.points[Math.floor(edge.points.length / 2)];
          return (
            <g class="edge" key={`${edge.parent}>${edge.child}`} data-parent={edge.parent} data-child={edge.child}>
              <path d={edgePath(edge.points)} marker-end="url(#arrow)" />
              {edge.label && middle ? (
                <text x={middle.x + 6} y={middle.y} class="edge-label">
                  {edge.label}
                </text>
              ) : null}
            </g>
          );
        })}
        {graph.nodes.map((node) => (
          <NodeBox key={node.id} node={node} marks={props.marks} />
        ))}
      </svg>
    </div>
  );
}

function TimelineView(props: { timeline: Timeline; marks: Marks }): JSX.Element {
  const { timeline, marks } = props;
  const shown = timeline.rows.filter((row) => !marks.searching || marks.matches(row.id));
  const percent = (ms: number): string => `${((ms / timeline.spanMs) * 100).toFixed(2)}%`;
  return (
    <div class="timeline" role="list" aria-label="Timeline: each event at its time after the first">
      <div class="timeline-scale" aria-hidden="true">
        <span>Event · source</span>
        <span class="ticks">
          <span>0</span>
          <span>+{formatDuration(timeline.spanMs / 2)}</span>
          <span>+{formatDuration(timeline.spanMs)}</span>
        </span>
        <span>after first</span>
      </div>
      {shown.map((row) => {
        const label = `${row.eventType ?? "(not stored)"} · ${row.sourceApp ?? "—"}`;
        const start = row.startMs === null ? null : `+${formatDuration(row.startMs)}`;
        return (
          <div
            key={row.id}
            role="listitem"
            class={`timeline-row${row.selected ? " selected" : ""}${row.placeholder ? " placeholder" : ""}${markClasses(row.id, marks)}`}
            data-event-id={row.id}
            onMouseEnter={() => marks.hover(row.id)}
            onMouseLeave={() => marks.hover(null)}
          >
            <div class="timeline-label" style={{ paddingLeft: `${row.depth * 14}px` }}>
              {row.placeholder ? (
                <span title={`${row.id}: named as a parent, not stored`}>{label}</span>
              ) : (
                <Link href={routeHref({ page: "event", id: row.id })} title={`${row.id}\n${row.timestamp ?? ""}`}>
                  {label}
                </Link>
              )}
            </div>
            <div class="timeline-track">
              {row.startMs === null || row.endMs === null ? (
                <span class="muted">time unknown</span>
              ) : (
                <span
                  class="timeline-bar"
                  style={{ left: percent(row.startMs), width: `max(3px, ${percent(row.endMs - row.startMs)})` }}
                  title={`${start} after the first event${row.endMs > row.startMs ? `; its last child +${formatDuration(row.endMs)}` : ""}`}
                />
              )}
            </div>
            <span class="timeline-at">{start ?? ""}</span>
          </div>
        );
      })}
      {shown.length === 0 ? <p class="muted">No event of this trace matches the search.</p> : null}
    </div>
  );
}

export function TraceView(props: { answer: TraceAnswer; id: string }): JSX.Element {
  const [search, setSearch] = useState("");
  const [hovered, setHovered] = useState<string | null>(null);
  const timeline = useMemo(() => buildTimeline(props.answer, props.id), [props.answer, props.id]);
  const matcher = useMemo(() => traceMatcher(search), [search]);
  const matching = useMemo(() => new Set(timeline.rows.filter(matcher).map((row) => row.id)), [timeline, matcher]);
  const marks: Marks = { matches: (id) => matching.has(id), searching: search.trim() !== "", hovered, hover: setHovered };
  const links = new Set(props.answer.edges.filter((edge) => edge.parent !== edge.child).map((edge) => `${edge.parent}>${edge.child}`)).size;
  return (
    <>
      <div class="toolbar">
        <input
          type="search"
          name="trace-search"
          placeholder="Find by type, id or source"
          aria-label="Find events in this trace by type, id or source"
          value={search}
          onInput={(event) => setSearch((event.currentTarget as HTMLInputElement).value)}
        />
        <span class="muted" role="status">
          {marks.searching ? `${matching.size} of ${timeline.rows.length} match. ` : ""}
          {timeline.rows.length} event{timeline.rows.length === 1 ? "" : "s"}, {links} link{links === 1 ? "" : "s"}.
          {props.answer.truncated ? " The graph was cut at Candystore's node limit." : ""}
        </span>
      </div>
      <p class="muted">
        Parents are drawn above their children; an arrow's label is the time from parent to child. The timeline shows each event at its time after
        the first, its bar reaching its last child. Click an event to open it.
      </p>
      <div class="trace-views">
        <Graph answer={props.answer} id={props.id} marks={marks} />
        <TimelineView timeline={timeline} marks={marks} />
      </div>
    </>
  );
}

export function TracePage(props: { id: string; candystore: CandystoreClient }): JSX.Element {
  const answer = useAsync(() => props.candystore.trace(props.id), [props.id]);
  return (
    <section class="page trace">
      <div class="toolbar">
        <h1>Trace</h1>
        <span class="muted">around</span>
        <Link href={routeHref({ page: "event", id: props.id })}>{props.id}</Link>
      </div>
      {answer.status === "loading" ? (
        <Loading what="the causation graph" />
      ) : answer.status === "error" ? (
        "notFound" in answer.error && answer.error.notFound ? (
          <Empty title="No trace for this event">
            <p>
              Candystore knows no event <code>{props.id}</code> and no event names it as a parent. Check the id, or find the event on the{" "}
              <Link href="/events">Events</Link> page.
            </p>
          </Empty>
        ) : (
          <Failure error={answer.error} retry={answer.reload} what="the trace" />
        )
      ) : (
        <TraceView answer={answer.data} id={props.id} />
      )}
    </section>
  );
}
