import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import {
  analyse,
  buildFlowGraph,
  historyEvent,
  historyOrder,
  rangeOf,
  readHistory,
  teamPair,
  UNRESOLVED,
  unresolvedByType,
  utcHour,
  type EventsPageReader,
} from "../src/lib/patterns";
import { parseRoute, routeHref } from "../src/router";

// The history and the answer `visibility patterns` gives over it (tests/visibility/test_patterns.py
// holds the Python command to the same answer): the page and the command cannot drift apart.
const data = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../tests/visibility/data/${name}`, import.meta.url), "utf8"));

describe("patterns", () => {
  it("agrees with the Python command on the same history", () => {
    const history = (data("patterns-history.json") as unknown[]).map(historyEvent);
    expect(history.every((event) => event !== null)).toBe(true);
    expect(analyse(history.filter((event) => event !== null))).toEqual(data("patterns-expected.json"));
  });

  it("reads each event once, ordered by time then id", () => {
    const at = (id: string, timestamp: string) => historyEvent({ event_id: id, event_type: "retail.x", timestamp })!;
    const order = historyOrder([at("b", "2026-01-01T00:00:01Z"), at("a", "2026-01-01T00:00:01Z"), at("b", "2026-01-01T00:00:00Z")]);
    expect(order.map((event) => [event.eventId, event.timestamp])).toEqual([
      ["b", "2026-01-01T00:00:00Z"],
      ["a", "2026-01-01T00:00:01Z"],
    ]);
    expect(historyEvent({ event_type: "retail.x" })).toBeNull();
  });

  it("names team pairs as the command does", () => {
    expect(teamPair(["b", "a"])).toBe("a + b");
    expect(teamPair(["a"])).toBe("a vs inventory");
    expect(teamPair([])).toBe("? vs inventory");
  });

  it("reads the hour in UTC", () => {
    expect(utcHour("2026-11-30T23:30:00+05:30")).toBe(18);
    expect(utcHour("2026-11-30T20:00:00.5-05:00")).toBe(1);
    expect(utcHour("2026-11-30T06:15:00")).toBe(6);
    expect(utcHour("2026-11-30")).toBe(0);
    expect(utcHour("2026-11-30T25:00:00Z")).toBeNull();
    expect(utcHour("yesterday")).toBeNull();
    expect(utcHour(7)).toBeNull();
  });

  it("reads every history type page by page, and stops at the cap", async () => {
    const asked: string[] = [];
    const read: EventsPageReader = async (query) => {
      asked.push(`${query.event_type} ${query.cursor ?? "-"} ${query.limit}`);
      const base = query.event_type.startsWith("retail") ? 100 : 0;
      const start = query.cursor === undefined ? 0 : Number(query.cursor);
      const items = [0, 1].slice(0, query.limit).map((n) => ({ event_id: `e${base + start + n}`, event_type: query.event_type, timestamp: "2026-01-01T00:00:00Z" }));
      return { items, next_cursor: start === 0 ? "2" : null };
    };
    const all = await readHistory(read, new Date("2026-01-01T00:00:00Z"));
    expect(all.capped).toBe(false);
    expect(all.events).toHaveLength(8);
    expect(asked).toEqual(["visibility.conflict.# - 1000", "visibility.conflict.# 2 1000", "retail.# - 1000", "retail.# 2 1000"]);
    const capped = await readHistory(read, new Date("2026-01-01T00:00:00Z"), 3);
    expect(capped.capped).toBe(true);
    expect(capped.events).toHaveLength(3);
  });

  it("lays out the event-type flow with the parents not read as one node", () => {
    const history = (data("patterns-history.json") as unknown[]).map(historyEvent).filter((event) => event !== null);
    const report = analyse(history);
    const unresolved = unresolvedByType(history);
    const graph = buildFlowGraph(report, unresolved);
    expect(graph.nodes.map((node) => node.id).sort()).toEqual([...report.directly_follows.activities.map((a) => a.event_type), UNRESOLVED].sort());
    expect([...unresolved.values()].reduce((a, b) => a + b, 0)).toBe(report.directly_follows.unresolved_parents);
    const edges = graph.edges.filter((edge) => edge.from !== UNRESOLVED);
    expect(edges.map(({ from, to, count }) => ({ from, to, count }))).toEqual(report.directly_follows.edges);
    const busiest = graph.edges.reduce((a, b) => (b.count > a.count ? b : a));
    expect(graph.edges.every((edge) => edge.weight <= busiest.weight && edge.points.length >= 2)).toBe(true);
    expect(graph.width).toBeGreaterThan(0);
  });

  it("keeps the time range in the address", () => {
    expect(parseRoute("/patterns", "")).toEqual({ page: "patterns", range: "24h" });
    expect(parseRoute("/patterns", "?range=7d")).toEqual({ page: "patterns", range: "7d" });
    expect(rangeOf("toString")).toBe("24h");
    expect(routeHref({ page: "patterns", range: "1h" })).toBe("/patterns?range=1h");
    expect(routeHref({ page: "patterns", range: "24h" })).toBe("/patterns");
  });
});
