// The causation graph of a trace: nodes and edges from Candystore's answer, laid out by dagre
// with parents above children (an event with two parents sits below both).
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

export const NODE_WIDTH = 248;
export const NODE_HEIGHT = 58;

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

/** Lay out the trace; `selectedId` is the event the page was opened for. */
export function buildTraceGraph(answer: TraceAnswer, selectedId: string): TraceGraph {
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

  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 64, marginx: 16, marginy: 16 });
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
