// What the stored history says about conflicts: the port of `visibility patterns`
// (visibility/tools/patterns.py `analyse`) with the same semantics, so the Patterns page and the
// command agree on the same history (tests/visibility/data/patterns-*.json hold both to it).
//
// Conflicts are the `visibility.conflict.detected.v1` events, one per occurrence: the latest
// `occurrence_count` of each `conflict_id` is its count. The directly-follows graph counts, for
// every event, each parent's type → its type; a parent outside the history read is unresolved.
// The page reads the history page by page (up to a cap) and lays the graph out with dagre.
import dagre from "@dagrejs/dagre";

export const DETECTED = "visibility.conflict.detected.v1";
/** The event types read: the conflicts' own events and the retail events they come from. */
export const HISTORY_TYPES = ["visibility.conflict.#", "retail.#"] as const;
const TOP = 10;
/** Events per `GET /events` page: Candystore's largest. */
const PAGE_SIZE = 1000;
/** Most events the page reads: enough for days of a busy platform, small enough for a browser. */
export const HISTORY_CAP = 20_000;

export type PatternsRange = "1h" | "24h" | "7d";
export const RANGES: Record<PatternsRange, { label: string; ms: number }> = {
  "1h": { label: "Last hour", ms: 3_600_000 },
  "24h": { label: "Last 24 hours", ms: 86_400_000 },
  "7d": { label: "Last 7 days", ms: 7 * 86_400_000 },
};
export const DEFAULT_RANGE: PatternsRange = "24h";

export function rangeOf(value: string | null): PatternsRange {
  return value !== null && Object.hasOwn(RANGES, value) ? (value as PatternsRange) : DEFAULT_RANGE;
}

/** A stored event, as far as the analysis needs it. */
export interface HistoryEvent {
  eventId: string;
  eventType: string;
  timestamp: string;
  parents: string[];
  payload: Record<string, unknown>;
}

export interface Ranked<K extends string> {
  conflicts: number;
  key: K;
}

export interface RecurringConflict {
  rule: string;
  product_id: string;
  store_id: string;
  teams: string[];
  conflicts: number;
  occurrences: number;
  first_seen: string;
  last_seen: string;
}

/** The same shape as `Patterns.to_json()` of the Python command. */
export interface PatternsReport {
  events: number;
  conflicts: number;
  occurrences: number;
  hot_spots: {
    team_pairs: { teams: string; conflicts: number }[];
    products: { product_id: string; conflicts: number }[];
    stores: { store_id: string; conflicts: number }[];
    hours: { hour: number; conflicts: number }[];
    rules: { rule: string; conflicts: number }[];
  };
  recurring: RecurringConflict[];
  directly_follows: {
    activities: { event_type: string; count: number }[];
    edges: { from: string; to: string; count: number }[];
    starts: { event_type: string; count: number }[];
    unresolved_parents: number;
  };
}

/** An envelope from `GET /events` as the analysis reads it, or null when it names no id or type. */
export function historyEvent(envelope: unknown): HistoryEvent | null {
  if (!isRecord(envelope) || !("event_id" in envelope) || !("event_type" in envelope)) return null;
  const parents = Array.isArray(envelope.correlation_ids) ? envelope.correlation_ids : [];
  return {
    eventId: pyStr(envelope.event_id),
    eventType: pyStr(envelope.event_type),
    timestamp: "timestamp" in envelope ? pyStr(envelope.timestamp) : "",
    parents: parents.map(pyStr),
    payload: isRecord(envelope.payload) ? envelope.payload : {},
  };
}

/** A page of `GET /events` as the reader needs it. */
export type EventsPageReader = (query: {
  event_type: string;
  since: string;
  limit: number;
  cursor?: string;
}) => Promise<{ items: readonly unknown[]; next_cursor: string | null }>;

export interface History {
  events: HistoryEvent[];
  /** True when the cap stopped the reading: the analysis covers only the events read. */
  capped: boolean;
}

/** Every stored event of the history types at or after `since`, page by page, up to `cap`. */
export async function readHistory(read: EventsPageReader, since: Date, cap: number = HISTORY_CAP): Promise<History> {
  const found: HistoryEvent[] = [];
  for (const eventType of HISTORY_TYPES) {
    let cursor: string | null = null;
    do {
      if (found.length >= cap) return { events: historyOrder(found), capped: true };
      const limit = Math.min(PAGE_SIZE, cap - found.length);
      const page = await read({ event_type: eventType, since: since.toISOString(), limit, ...(cursor === null ? {} : { cursor }) });
      for (const item of page.items) {
        const event = historyEvent(item);
        if (event !== null) found.push(event);
      }
      cursor = page.next_cursor;
    } while (cursor !== null);
  }
  return { events: historyOrder(found), capped: false };
}

/** One event per id, in the order the command reads them: by timestamp, then id. */
export function historyOrder(events: Iterable<HistoryEvent>): HistoryEvent[] {
  const found = new Map<string, HistoryEvent>();
  for (const event of events) found.set(event.eventId, event);
  return [...found.values()].sort((a, b) => compare(a.timestamp, b.timestamp) || compare(a.eventId, b.eventId));
}

/** How a conflict's teams read in the hot spots: `a + b`, or `a vs inventory` for one team. */
export function teamPair(teams: readonly string[]): string {
  return teams.length > 1 ? [...teams].sort(compare).join(" + ") : `${teams[0] ?? "?"} vs inventory`;
}

/** Hot spots, recurring conflicts and the directly-follows graph of `events`. */
export function analyse(events: readonly HistoryEvent[]): PatternsReport {
  const byId = new Map(events.map((event) => [event.eventId, event]));
  const activities = new Map<string, number>();
  const starts = new Map<string, number>();
  const flows = new Map<string, { from: string; to: string; count: number }>();
  const latest = new Map<string, HistoryEvent>();
  let unresolved = 0;
  for (const event of events) {
    bump(activities, event.eventType);
    if (event.parents.length === 0) bump(starts, event.eventType);
    for (const parent of event.parents) {
      const known = byId.get(parent);
      if (known === undefined) {
        unresolved += 1;
        continue;
      }
      const key = JSON.stringify([known.eventType, event.eventType]);
      const flow = flows.get(key) ?? { from: known.eventType, to: event.eventType, count: 0 };
      flow.count += 1;
      flows.set(key, flow);
    }
    if (event.eventType === DETECTED && "conflict_id" in event.payload) {
      const conflictId = pyStr(event.payload.conflict_id);
      const held = latest.get(conflictId);
      if (held === undefined || occurrenceCount(held) <= occurrenceCount(event)) latest.set(conflictId, event);
    }
  }
  const teamPairs = new Map<string, number>();
  const products = new Map<string, number>();
  const stores = new Map<string, number>();
  const rules = new Map<string, number>();
  const hours = new Map<number, number>();
  const keys = new Map<string, { teams: string[]; conflicts: HistoryEvent[] }>();
  let occurrences = 0;
  for (const event of latest.values()) {
    const payload = event.payload;
    const listed = Array.isArray(payload.teams) ? payload.teams : [];
    const teams = listed.map(pyStr).sort(compare);
    occurrences += occurrenceCount(event);
    bump(teamPairs, teamPair(teams));
    bump(products, pyStr(payload.product_id));
    bump(stores, pyStr(payload.store_id));
    bump(rules, pyStr(payload.rule));
    const hour = utcHour(payload.occurred_at);
    if (hour !== null) bump(hours, hour);
    const key = JSON.stringify([pyStr(payload.rule), pyStr(payload.product_id), pyStr(payload.store_id), teams]);
    const held = keys.get(key) ?? { teams, conflicts: [] };
    held.conflicts.push(event);
    keys.set(key, held);
  }
  const top = <N extends string>(counter: Map<string, number>, name: N) =>
    ranked(counter)
      .slice(0, TOP)
      .map(([key, count]) => ({ [name]: key, conflicts: count }) as { [P in N]: string } & { conflicts: number });
  return {
    events: events.length,
    conflicts: latest.size,
    occurrences,
    hot_spots: {
      team_pairs: top(teamPairs, "teams"),
      products: top(products, "product_id"),
      stores: top(stores, "store_id"),
      hours: Array.from({ length: 24 }, (_, hour) => ({ hour, conflicts: hours.get(hour) ?? 0 })),
      rules: top(rules, "rule"),
    },
    recurring: recurring(keys).slice(0, TOP * 2),
    directly_follows: {
      activities: ranked(activities).map(([name, count]) => ({ event_type: name, count })),
      edges: [...flows.values()].sort((a, b) => b.count - a.count || compare(a.from, b.from) || compare(a.to, b.to)),
      starts: ranked(starts).map(([name, count]) => ({ event_type: name, count })),
      unresolved_parents: unresolved,
    },
  };
}

/** Parents outside the history read, counted by the type of the event naming them. */
export function unresolvedByType(events: readonly HistoryEvent[]): Map<string, number> {
  const ids = new Set(events.map((event) => event.eventId));
  const counts = new Map<string, number>();
  for (const event of events) {
    for (const parent of event.parents) if (!ids.has(parent)) bump(counts, event.eventType);
  }
  return counts;
}

/** The node standing for every parent outside the history read. */
export const UNRESOLVED = "(parent not in the history read)";

export interface FlowNode {
  id: string;
  /** Events of this type; parents not read for the unresolved node. */
  count: number;
  unresolved: boolean;
  /** Top-left corner and size, in the graph's pixels. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FlowEdge {
  from: string;
  to: string;
  count: number;
  /** Stroke width, by count relative to the busiest edge (logarithmic). */
  weight: number;
  points: { x: number; y: number }[];
}

export interface FlowGraph {
  nodes: FlowNode[];
  edges: FlowEdge[];
  width: number;
  height: number;
}

export const FLOW_NODE_WIDTH = 264;
export const FLOW_NODE_HEIGHT = 44;
const FLOW_LAYOUT = { rankdir: "TB", nodesep: 18, ranksep: 46, edgesep: 10, marginx: 4, marginy: 4 } as const;
const MIN_WEIGHT = 1.5;
const MAX_WEIGHT = 7;

/**
 * The directly-follows graph laid out by dagre: a node per event type (with its count), an edge
 * per parent type → child type (with its count), and one node for the parents not read.
 */
export function buildFlowGraph(report: PatternsReport, unresolved: ReadonlyMap<string, number>): FlowGraph {
  const flows = report.directly_follows;
  const facts: { id: string; count: number; unresolved: boolean }[] = flows.activities.map((activity) => ({
    id: activity.event_type,
    count: activity.count,
    unresolved: false,
  }));
  const edges = flows.edges.map((edge) => ({ ...edge }));
  if (flows.unresolved_parents > 0) {
    facts.push({ id: UNRESOLVED, count: flows.unresolved_parents, unresolved: true });
    for (const [to, count] of [...unresolved].sort((a, b) => b[1] - a[1] || compare(a[0], b[0]))) edges.push({ from: UNRESOLVED, to, count });
  }
  const graph = new dagre.graphlib.Graph({ multigraph: false });
  graph.setGraph({ ...FLOW_LAYOUT });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const fact of facts) graph.setNode(fact.id, { width: FLOW_NODE_WIDTH, height: FLOW_NODE_HEIGHT });
  for (const edge of edges) graph.setEdge(edge.from, edge.to);
  dagre.layout(graph);
  const busiest = Math.max(1, ...edges.map((edge) => edge.count));
  const size = graph.graph();
  return {
    nodes: facts.map((fact) => {
      const placed = graph.node(fact.id);
      return { ...fact, x: placed.x - FLOW_NODE_WIDTH / 2, y: placed.y - FLOW_NODE_HEIGHT / 2, width: FLOW_NODE_WIDTH, height: FLOW_NODE_HEIGHT };
    }),
    edges: edges.map((edge) => ({
      ...edge,
      // Logarithmic: one event is a thin line, the busiest edge the thickest, whatever its count.
      weight: MIN_WEIGHT + ((MAX_WEIGHT - MIN_WEIGHT) * Math.log(edge.count)) / Math.log(Math.max(2, busiest)),
      points: (graph.edge(edge.from, edge.to)?.points ?? []).map((point: { x: number; y: number }) => ({ x: point.x, y: point.y })),
    })),
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
  };
}

function recurring(keys: Map<string, { teams: string[]; conflicts: HistoryEvent[] }>): RecurringConflict[] {
  const found: RecurringConflict[] = [];
  for (const [key, { teams, conflicts }] of keys) {
    const [rule, product, store] = JSON.parse(key) as [string, string, string];
    const occurrences = conflicts.reduce((sum, event) => sum + occurrenceCount(event), 0);
    if (conflicts.length < 2 && occurrences < 2) continue;
    const seen = conflicts.map((event) => payloadText(event, "occurred_at")).sort(compare);
    const last = conflicts.map((event) => payloadText(event, "detected_at")).sort(compare);
    found.push({
      rule,
      product_id: product,
      store_id: store,
      teams,
      conflicts: conflicts.length,
      occurrences,
      first_seen: seen[0] ?? "",
      last_seen: last[last.length - 1] ?? "",
    });
  }
  // Array.prototype.sort is stable, as Python's sort: ties keep the order conflicts were first seen.
  return found.sort(
    (a, b) =>
      b.conflicts - a.conflicts ||
      b.occurrences - a.occurrences ||
      compare(a.rule, b.rule) ||
      compare(a.product_id, b.product_id) ||
      compare(a.store_id, b.store_id),
  );
}

/** A payload field as text, the event's timestamp when it is absent. */
function payloadText(event: HistoryEvent, name: string): string {
  return name in event.payload ? pyStr(event.payload[name]) : event.timestamp;
}

function occurrenceCount(event: HistoryEvent): number {
  const value = event.payload.occurrence_count ?? 1;
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : 1;
}

// The forms Python's datetime.fromisoformat reads that the history holds: a date, a time to the
// minute, second or fraction, and an offset (`Z`, `±HH`, `±HH:MM`).
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ](\d{2})(?::(\d{2})(?::\d{2}(?:[.,]\d{1,6})?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** The hour of the day in UTC of an RFC 3339 time (the hour as written when it has no offset). */
export function utcHour(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const match = ISO.exec(value);
  if (match === null) return null;
  const [, hourText, minuteText, offset] = match;
  const hour = Number(hourText ?? 0);
  const minute = Number(minuteText ?? 0);
  if (hour > 23 || minute > 59) return null;
  if (offset === undefined || offset === "Z") return hour;
  const sign = offset.startsWith("-") ? -1 : 1;
  const digits = offset.slice(1).replace(":", "");
  const shift = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
  const minutes = hour * 60 + minute - sign * shift;
  return Math.floor((((minutes % 1440) + 1440) % 1440) / 60);
}

function ranked<K extends string>(counter: Map<K, number>): [K, number][] {
  return [...counter.entries()].sort((a, b) => b[1] - a[1] || compare(a[0], b[0]));
}

function bump<K>(counter: Map<K, number>, key: K): void {
  counter.set(key, (counter.get(key) ?? 0) + 1);
}

/** Python's `str()` of a JSON value, as the command writes keys (`None`, `True`). */
function pyStr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

/** Code-point order, as Python compares strings. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
