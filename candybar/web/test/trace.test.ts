import { describe, expect, it } from "vitest";

import { buildTimeline, buildTraceGraph, edgePath, nodeFacts, traceMatcher } from "../src/lib/trace";
import { envelope, uuid } from "./fixtures";

// root → a, root → b; a + b → merge (two parents); merge → leaf
const ids = { root: uuid(101), a: uuid(102), b: uuid(103), merge: uuid(104), leaf: uuid(105), missing: uuid(106) };
const at = (ms: number) => new Date(Date.UTC(2026, 10, 2, 12, 0, 0) + ms).toISOString();
const node = (id: string, ms: number, parents: string[]) =>
  envelope({ event_id: id, timestamp: at(ms), correlation_ids: parents, event_type: "theboard.round.completed.v1" });

const answer = {
  root: ids.merge,
  nodes: [
    node(ids.merge, 2500, [ids.a, ids.b]),
    node(ids.root, 0, []),
    node(ids.a, 120, [ids.root]),
    node(ids.b, 1000, [ids.root]),
    node(ids.leaf, 2600, [ids.merge]),
  ],
  edges: [
    { parent: ids.root, child: ids.a },
    { parent: ids.root, child: ids.b },
    { parent: ids.a, child: ids.merge },
    { parent: ids.b, child: ids.merge },
    { parent: ids.merge, child: ids.leaf },
  ],
  ancestors: [],
  descendants: [],
  truncated: false,
};

describe("the causation graph", () => {
  const graph = buildTraceGraph(answer, ids.merge);
  const byId = Object.fromEntries(graph.nodes.map((item) => [item.id, item]));
  const y = (id: string) => byId[id]?.y ?? Number.NaN;

  it("has every node and every edge, the two-parent event once", () => {
    expect(graph.nodes.map((item) => item.id).sort()).toEqual([ids.root, ids.a, ids.b, ids.merge, ids.leaf].sort());
    expect(graph.edges).toHaveLength(5);
    expect(graph.edges.filter((edge) => edge.child === ids.merge).map((edge) => edge.parent).sort()).toEqual([ids.a, ids.b].sort());
  });

  it("lays parents above their children, level by level", () => {
    expect(y(ids.root)).toBeLessThan(y(ids.a));
    expect(y(ids.a)).toBe(y(ids.b));
    expect(y(ids.a)).toBeLessThan(y(ids.merge));
    expect(y(ids.merge)).toBeLessThan(y(ids.leaf));
    expect(byId[ids.a]?.x).not.toBe(byId[ids.b]?.x);
    for (const item of graph.nodes) {
      expect(item.x).toBeGreaterThanOrEqual(0);
      expect(item.x + item.width).toBeLessThanOrEqual(graph.width);
      expect(item.y + item.height).toBeLessThanOrEqual(graph.height);
    }
  });

  it("marks the selected event and labels edges with the time between events", () => {
    expect(graph.nodes.filter((item) => item.selected).map((item) => item.id)).toEqual([ids.merge]);
    const label = (parent: string, child: string) => graph.edges.find((edge) => edge.parent === parent && edge.child === child)?.label;
    expect(label(ids.root, ids.a)).toBe("+120 ms");
    expect(label(ids.b, ids.merge)).toBe("+1.50 s");
    expect(label(ids.merge, ids.leaf)).toBe("+100 ms");
  });

  it("routes every edge from its parent down to its child", () => {
    for (const edge of graph.edges) {
      const first = edge.points[0];
      const last = edge.points.at(-1);
      expect(first && last && first.y < last.y).toBe(true);
      expect(edgePath(edge.points)).toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/);
    }
  });

  it("draws a parent that is named but not stored as a placeholder", () => {
    const withMissing = buildTraceGraph(
      {
        nodes: [node(ids.a, 0, [ids.missing]), { event_id: ids.missing, placeholder: true }],
        edges: [{ parent: ids.missing, child: ids.a }],
      },
      ids.a,
    );
    expect(withMissing.nodes.find((item) => item.id === ids.missing)).toMatchObject({ placeholder: true, eventType: null });
    expect(withMissing.edges[0]?.label).toBeNull();
  });

  it("survives a cycle and edges to nodes it was not sent", () => {
    const cyclic = buildTraceGraph(
      { nodes: [node(ids.a, 0, [ids.b]), node(ids.b, 10, [ids.a])], edges: [{ parent: ids.a, child: ids.b }, { parent: ids.b, child: ids.a }, { parent: ids.b, child: ids.leaf }] },
      ids.a,
    );
    expect(cyclic.nodes).toHaveLength(3);
    expect(cyclic.edges).toHaveLength(3);
  });

  it("reads a node given as {event_id, envelope}", () => {
    expect(nodeFacts({ event_id: ids.a, envelope: null })).toMatchObject({ id: ids.a, placeholder: true });
    expect(nodeFacts({ envelope: node(ids.a, 0, []) })).toMatchObject({ id: ids.a, placeholder: false });
    expect(nodeFacts("nonsense")).toBeNull();
  });
});

describe("the timeline of a trace", () => {
  const timeline = buildTimeline(answer, ids.merge);
  const row = (id: string) => timeline.rows.find((item) => item.id === id);

  it("orders events by time, each at its offset from the first, its bar reaching its last child", () => {
    expect(timeline.rows.map((item) => item.id)).toEqual([ids.root, ids.a, ids.b, ids.merge, ids.leaf]);
    expect(timeline.spanMs).toBe(2600);
    expect(row(ids.root)).toMatchObject({ startMs: 0, endMs: 1000 });
    expect(row(ids.merge)).toMatchObject({ startMs: 2500, endMs: 2600, selected: true });
    expect(row(ids.leaf)).toMatchObject({ startMs: 2600, endMs: 2600 });
  });

  it("indents each event by its longest causal path from a root", () => {
    expect(timeline.rows.map((item) => item.depth)).toEqual([0, 1, 1, 2, 3]);
  });

  it("survives a cycle and an event named only as a parent", () => {
    const cyclic = {
      nodes: [node(ids.a, 0, [ids.b]), node(ids.b, 10, [ids.a])],
      edges: [
        { parent: ids.a, child: ids.b },
        { parent: ids.b, child: ids.a },
        { parent: ids.missing, child: ids.a },
      ],
    };
    const rows = buildTimeline(cyclic, ids.a).rows;
    expect(rows).toHaveLength(3);
    expect(rows.find((item) => item.id === ids.missing)).toMatchObject({ startMs: null, placeholder: true });
  });
});

describe("the trace search", () => {
  it("matches the type, the id or the source, ignoring case", () => {
    const event = { id: ids.root, eventType: "theboard.round.completed.v1", sourceApp: "TheBoard" };
    expect(traceMatcher("ROUND")(event)).toBe(true);
    expect(traceMatcher("theboard")(event)).toBe(true);
    expect(traceMatcher(ids.root.slice(-5))(event)).toBe(true);
    expect(traceMatcher("retail")(event)).toBe(false);
    expect(traceMatcher("  ")(event)).toBe(true);
  });
});
