// The causation graph of a trace: nodes and edges from Candystore's answer, laid out by dagre
// with parents above children (an event with two parents sits below both), the same events as a
// timeline (a waterfall: each event at its time after the first, indented by its depth), and
// the search that picks events out of both.
import dagre from "@dagrejs/dagre";

import { formatDuration } from "./format";

/** A node as Candystore may send it: an envelope, or `{event_id, envelope}` (envelope null for a placeholder). */
export interface TraceAnswer {
  nodes: readonly unknown[];
  edges: readonly { parent: string; child: string }[];
  truncated?: boolean;
}

export interface GraphNode {
  id: string;
  eventType: string | null;
  timestamp: string | null;
  sourceApp: string | null;
  /** Named as a parent but not stored (or cut off): there is no envelope to open. */
  placeholder: boolean;
  selected: boolean;
  /** Top-left corner and size, in the graph's pixels. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphEdge {
  parent: string;
  child: string;
  /** Polyline from the parent's bottom to the child's top. */
  points: { x: number; y: number }[];
  /** Time from the parent's timestamp to the child's (`+120 ms`), when both are known. */
  label: string | null;
}

export interface TraceGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
  truncated: boolean;
}

export const NODE_WIDTH = 232;
export const NODE_HEIGHT = 58;
/** Tight spacing: a trace of a dozen events fits a screen without scrolling. */
const LAYOUT = { rankdir: "TB", nodesep: 14, ranksep: 34, edgesep: 8, marginx: 4, marginy: 4 } as const;

interface NodeFacts {
  id: string;
  eventType: string | null;
  timestamp: string | null;
  sourceApp: string | null;
  placeholder: boolean;
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** What the graph shows of one node of the answer; null for a node without an id. */
export function nodeFacts(node: unknown): NodeFacts | null {
  const outer = record(node);
  if (outer === null) return null;
  const hasEnvelopeKey = "envelope" in outer;
  const envelope = hasEnvelopeKey ? record(outer.envelope) : outer;
  const id = str(outer.event_id) ?? str(envelope?.event_id);
  if (id === null) return null;
  return {
    id,
    eventType: str(envelope?.event_type),
    timestamp: str(envelope?.timestamp),
    sourceApp: str(record(envelope?.source)?.app),
    placeholder: envelope === null || outer.placeholder === true,
  };
}

function gap(parent: NodeFacts | undefined, child: NodeFacts | undefined): string | null {
  if (!parent?.timestamp || !child?.timestamp) return null;
  const ms = Date.parse(child.timestamp) - Date.parse(parent.timestamp);
  if (Number.isNaN(ms)) return null;
  return `${ms >= 0 ? "+" : ""}${formatDuration(ms)}`;
}

/** The nodes (stored or only named) and the distinct edges of an answer, each once. */
function traceParts(answer: TraceAnswer): { facts: Map<string, NodeFacts>; edges: Map<string, { parent: string; child: string }> } {
  const facts = new Map<string, NodeFacts>();
  for (const node of answer.nodes) {
    const fact = nodeFacts(node);
    if (fact !== null && !facts.has(fact.id)) facts.set(fact.id, fact);
  }
  const edges = new Map<string, { parent: string; child: string }>();
  for (const edge of answer.edges) {
    if (edge.parent === edge.child) continue;
    edges.set(`${edge.parent}>${edge.child}`, edge);
    for (const id of [edge.parent, edge.child]) {
      if (!facts.has(id)) facts.set(id, { id, eventType: null, timestamp: null, sourceApp: null, placeholder: true });
    }
  }
  return { facts, edges };
}

/** Lay out the trace; `selectedId` is the event the page was opened for. */
export function buildTraceGraph(answer: TraceAnswer, selectedId: string): TraceGraph {
  const { facts, edges } = traceParts(answer);

  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ ...LAYOUT });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of facts.keys()) graph.setNode(id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of edges.values()) graph.setEdge(edge.parent, edge.child);
  dagre.layout(graph);

  const nodes: GraphNode[] = [...facts.values()].map((fact) => {
    const placed = graph.node(fact.id);
    return {
      ...fact,
      selected: fact.id === selectedId,
      x: placed.x - NODE_WIDTH / 2,
      y: placed.y - NODE_HEIGHT / 2,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
    };
  });
  const laidEdges: GraphEdge[] = [...edges.values()].map((edge) => ({
    ...edge,
    points: (graph.edge(edge.parent, edge.child)?.points ?? []).map((point: { x: number; y: number }) => ({ x: point.x, y: point.y })),
    label: gap(facts.get(edge.parent), facts.get(edge.child)),
  }));
  const size = graph.graph();
  return {
    nodes,
    edges: laidEdges,
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    truncated: answer.truncated === true,
  };
}

/** The SVG path through an edge's points. */
export function edgePath(points: readonly { x: number; y: number }[]): string {
  return points.map((point, index) => `${index === 0 ? "M" : "L"}${point.x.toFixed(1)},${point.y.toFixed(1)}`).join(" ");
}

/** One event of the timeline: where its bar starts and ends, in milliseconds after the trace's first event. */
export interface TimelineRow {
  id: string;
  eventType: string | null;
  sourceApp: string | null;
  timestamp: string | null;
  /** Parents above it on the longest causal path from a root (0 for a root). */
  depth: number;
  /** Null for an event without a known time (named as a parent but not stored). */
  startMs: number | null;
  /** When its last child happened (its own time when it has none): the bar spans what it caused directly. */
  endMs: number | null;
  placeholder: boolean;
  selected: boolean;
}

export interface Timeline {
  rows: TimelineRow[];
  /** From the first event to the last, in milliseconds (at least 1, so positions can divide by it). */
  spanMs: number;
}

/** The events of a trace in time order, each with its depth; `selectedId` is the page's event. */
export function buildTimeline(answer: TraceAnswer, selectedId: string): Timeline {
  const { facts, edges } = traceParts(answer);
  const children = new Map<string, string[]>();
  const parents = new Map<string, string[]>();
  for (const edge of edges.values()) {
    children.set(edge.parent, [...(children.get(edge.parent) ?? []), edge.child]);
    parents.set(edge.child, [...(parents.get(edge.child) ?? []), edge.parent]);
  }
  // Longest path from a root, in topological order; a node on a cycle (a forged answer) keeps depth 0.
  const depth = new Map<string, number>();
  const waiting = new Map([...facts.keys()].map((id) => [id, parents.get(id)?.length ?? 0]));
  const ready = [...facts.keys()].filter((id) => waiting.get(id) === 0);
  while (ready.length > 0) {
    const id = ready.shift() as string;
    for (const child of children.get(id) ?? []) {
      depth.set(child, Math.max(depth.get(child) ?? 0, (depth.get(id) ?? 0) + 1));
      const left = (waiting.get(child) ?? 1) - 1;
      waiting.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  const time = (fact: NodeFacts | undefined): number | null => {
    const ms = fact?.timestamp ? Date.parse(fact.timestamp) : Number.NaN;
    return Number.isNaN(ms) ? null : ms;
  };
  const times = [...facts.values()].map(time).filter((ms): ms is number => ms !== null);
  const first = times.length > 0 ? Math.min(...times) : 0;
  const last = times.length > 0 ? Math.max(...times) : 0;
  const rows = [...facts.values()].map((fact): TimelineRow => {
    const at = time(fact);
    const childTimes = (children.get(fact.id) ?? []).map((child) => time(facts.get(child))).filter((ms): ms is number => ms !== null);
    return {
      id: fact.id,
      eventType: fact.eventType,
      sourceApp: fact.sourceApp,
      timestamp: fact.timestamp,
      depth: depth.get(fact.id) ?? 0,
      startMs: at === null ? null : at - first,
      endMs: at === null ? null : Math.max(at, ...childTimes) - first,
      placeholder: fact.placeholder,
      selected: fact.id === selectedId,
    };
  });
  rows.sort((a, b) => (a.startMs ?? -1) - (b.startMs ?? -1) || a.depth - b.depth || a.id.localeCompare(b.id));
  return { rows, spanMs: Math.max(1, last - first) };
}

/** A predicate for the trace search: case-insensitive text in the type, the id or the source app. */
export function traceMatcher(text: string): (event: { id: string; eventType: string | null; sourceApp: string | null }) => boolean {
  const wanted = text.trim().toLowerCase();
  if (wanted === "") return () => true;
  return (event) => [event.id, event.eventType ?? "", event.sourceApp ?? ""].some((value) => value.toLowerCase().includes(wanted));
}
