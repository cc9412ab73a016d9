// Trace: the causation graph around one event, parents above children, time on the edges.
import type { JSX } from "preact";
import { useMemo } from "preact/hooks";

import type { CandystoreClient } from "../api/candystore";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { formatTimestamp } from "../lib/format";
import { buildTraceGraph, edgePath, type GraphNode, type TraceAnswer } from "../lib/trace";
import { useAsync } from "../hooks";
import { navigate, routeHref } from "../router";

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function NodeBox(props: { node: GraphNode }): JSX.Element {
  const { node } = props;
  const open = (): void => {
    if (!node.placeholder) navigate(routeHref({ page: "event", id: node.id }));
  };
  const classes = ["node", node.selected ? "selected" : "", node.placeholder ? "placeholder" : ""].join(" ").trim();
  return (
    <g
      class={classes}
      transform={`translate(${node.x},${node.y})`}
      onClick={open}
      onKeyDown={(event: KeyboardEvent) => event.key === "Enter" && open()}
      tabIndex={node.placeholder ? -1 : 0}
      role={node.placeholder ? "img" : "link"}
      aria-label={`${node.eventType ?? "not stored"} ${node.id}`}
      data-event-id={node.id}
    >
      <title>{node.placeholder ? `${node.id}: named as a parent, not stored` : `${node.eventType ?? ""}\n${node.id}\n${node.timestamp ?? ""}`}</title>
      <rect width={node.width} height={node.height} rx={6} />
      <text x={10} y={20} class="node-type">
        {clip(node.eventType ?? "(not stored)", 32)}
      </text>
      <text x={10} y={38} class="node-meta">
        {clip(`${node.sourceApp ?? ""} ${node.timestamp ? formatTimestamp(node.timestamp).slice(11) : ""}`.trim(), 36)}
      </text>
      <text x={10} y={52} class="node-id">
        {node.id.slice(0, 18)}…
      </text>
    </g>
  );
}

export function TraceView(props: { answer: TraceAnswer; id: string }): JSX.Element {
  const graph = useMemo(() => buildTraceGraph(props.answer, props.id), [props.answer, props.id]);
  return (
    <>
      <p class="muted">
        {graph.nodes.length} event{graph.nodes.length === 1 ? "" : "s"}, {graph.edges.length} link{graph.edges.length === 1 ? "" : "s"}.
        Parents are drawn above their children; an arrow's label is the time from parent to child. Click an event to open it.
        {graph.truncated ? " The graph was cut at Candystore's node limit." : ""}
      </p>
      <div class="graph-scroll">
        <svg class="trace-graph" width={graph.width} height={graph.height} viewBox={`0 0 ${graph.width} ${graph.height}`} role="group" aria-label="Causation graph">
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
            <NodeBox key={node.id} node={node} />
          ))}
        </svg>
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
              <Link href="/live">Live</Link> page.
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
