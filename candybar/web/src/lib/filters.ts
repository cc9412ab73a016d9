// The events page's view: mode, filters, time range and page position, what they match in the live
// stream, what they ask of Candystore's `GET /events`, and how they travel in a deep link.
import type { CheckedEvent } from "./envelope";

export type EventsMode = "live" | "history";

/** The payload conditions Candystore's `GET /events` takes as `payload.PATH[op]=value`. */
export const PAYLOAD_OPS = ["eq", "ne", "lt", "gt", "contains", "exists"] as const;
export type PayloadOp = (typeof PAYLOAD_OPS)[number];

export const PAYLOAD_OP_TEXT: Record<PayloadOp, string> = {
  eq: "equals",
  ne: "differs from",
  lt: "less than",
  gt: "greater than",
  contains: "contains",
  exists: "exists",
};

export interface PayloadCondition {
  /** A dotted path into the payload: `store_id`, `customer.tier`. */
  path: string;
  op: PayloadOp;
  /** Read as a JSON scalar when it is one (`3`, `true`), as text otherwise; ignored by `exists`. */
  value: string;
}

/** The relative ranges offered, and `custom` for an absolute from/until. */
export const RANGES = { "15m": 15 * 60_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 } as const;
export type RelativeRange = keyof typeof RANGES;
export type TimeRange = RelativeRange | "custom";

export const RANGE_TEXT: Record<TimeRange, string> = {
  "15m": "Last 15 min",
  "1h": "Last hour",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  custom: "From … until",
};

export interface EventsQuery {
  mode: EventsMode;
  /** An exact event type, or a pattern as Candystore's: `*` is exactly one word, `#` zero or more words. */
  eventType: string;
  sourceApp: string;
  agentName: string;
  /** Events naming this id among their parents. */
  correlationId: string;
  payload: PayloadCondition[];
  /** Case-insensitive text searched for in the payload and id of the live events (the stream only). */
  search: string;
  /** History only: which events, by timestamp. */
  range: TimeRange;
  /** History with a custom range: RFC 3339 times, either may be empty (open). */
  since: string;
  until: string;
  /** History only: the page starts after this position (a cursor of `GET /events`), going `direction`. */
  cursor: string;
  direction: "older" | "newer";
}

export const NO_QUERY: EventsQuery = {
  mode: "live",
  eventType: "",
  sourceApp: "",
  agentName: "",
  correlationId: "",
  payload: [],
  search: "",
  range: "1h",
  since: "",
  until: "",
  cursor: "",
  direction: "older",
};

/** What the filter fields say about type patterns (the same words as Candystore's API). */
export const TYPE_PATTERN_HINT = "* matches exactly one word, # any number of words: retail.# or *.workflow.*.v1";

/** The address's parameters: the same names as `GET /events` where the API has them. */
const KEYS = {
  eventType: "event_type",
  sourceApp: "source_app",
  agentName: "agent_name",
  correlationId: "correlation_id",
  search: "q",
} as const;
// The path may be empty: a row just added, not yet typed in.
const PAYLOAD_PARAM = /^payload\.(.*)\[(eq|ne|lt|gt|contains|exists)\]$/;

/**
 * A predicate for a type pattern with AMQP topic semantics, as Candystore's: `*` is exactly one
 * word, `#` zero or more words (`retail.#`). The empty pattern matches everything.
 */
export function typeMatcher(pattern: string): (eventType: string) => boolean {
  const trimmed = pattern.trim();
  if (trimmed === "") return () => true;
  if (!/[*#]/.test(trimmed)) return (eventType) => eventType === trimmed;
  // Consecutive `#` match what one does.
  const words = trimmed.split(".").filter((word, index, all) => !(word === "#" && all[index - 1] === "#"));
  return (eventType) => matchWords(words, eventType.split("."));
}

/** Follows every position the pattern can be at, word by word: linear in the type, never backtracking. */
function matchWords(pattern: string[], words: string[]): boolean {
  // A `#` may match no word: where one stands, the position after it is reached too.
  const closure = (positions: Set<number>): Set<number> => {
    for (const position of [...positions]) if (pattern[position] === "#") positions.add(position + 1);
    return positions;
  };
  let positions = closure(new Set([0]));
  for (const word of words) {
    const next = new Set<number>();
    for (const position of positions) {
      const expected = pattern[position];
      if (expected === "#") next.add(position);
      else if (expected === "*" || expected === word) next.add(position + 1);
    }
    positions = closure(next);
    if (positions.size === 0) return false;
  }
  return positions.has(pattern.length);
}

/** A condition's value as the API reads it: a JSON scalar when it is one, else the text. */
export function scalarOf(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return value === null || ["string", "number", "boolean"].includes(typeof value) ? value : text;
  } catch {
    return text;
  }
}

function at(payload: unknown, path: string): { found: boolean; value: unknown } {
  let value = payload;
  for (const key of path.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !(key in value)) return { found: false, value: undefined };
    value = (value as Record<string, unknown>)[key];
  }
  return { found: true, value };
}

/** Whether `payload` meets one condition, as Candystore decides it for stored events. */
export function meetsCondition(payload: unknown, condition: PayloadCondition): boolean {
  const { found, value } = at(payload, condition.path);
  if (condition.op === "exists") return found;
  if (!found) return false; // only `ne`'s negation could keep it, and the API keeps events that have the field
  const wanted = scalarOf(condition.value);
  switch (condition.op) {
    case "eq":
      return value === wanted;
    case "ne":
      return value !== wanted;
    case "lt":
    case "gt":
      if (typeof value === "number" && typeof wanted === "number") return condition.op === "lt" ? value < wanted : value > wanted;
      if (typeof value === "string" && typeof wanted === "string") return condition.op === "lt" ? value < wanted : value > wanted;
      return false;
    case "contains":
      if (typeof value === "string") return value.includes(condition.value);
      return Array.isArray(value) && value.some((item) => item === wanted);
  }
}

/** The conditions that say something: a path, and a value unless the op needs none. */
export function activeConditions(conditions: readonly PayloadCondition[]): PayloadCondition[] {
  return conditions.filter((condition) => condition.path.trim() !== "" && (condition.op === "exists" || condition.value !== ""));
}

/** A predicate for the filters of the live stream (built once per change, applied to every event). */
export function eventMatcher(query: EventsQuery): (event: CheckedEvent) => boolean {
  const type = typeMatcher(query.eventType);
  const source = query.sourceApp.trim();
  const agent = query.agentName.trim();
  const parent = query.correlationId.trim();
  const search = query.search.trim().toLowerCase();
  const conditions = activeConditions(query.payload);
  return (event) =>
    type(event.eventType) &&
    (source === "" || event.sourceApp === source) &&
    (agent === "" || event.agentName === agent) &&
    (parent === "" || event.correlationIds.includes(parent)) &&
    (search === "" || event.searchText.includes(search) || (event.eventId ?? "").toLowerCase().includes(search)) &&
    conditions.every((condition) => meetsCondition(payloadOf(event), condition));
}

function payloadOf(event: CheckedEvent): unknown {
  const raw = event.raw;
  return typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>).payload : undefined;
}

/** Whether any filter is set (the mode, range and page position are not filters). */
export function isFiltering(query: EventsQuery): boolean {
  return (
    [query.eventType, query.sourceApp, query.agentName, query.correlationId, query.search].some((value) => value.trim() !== "") ||
    activeConditions(query.payload).length > 0
  );
}

export function queryFromSearch(search: URLSearchParams): EventsQuery {
  const payload: PayloadCondition[] = [];
  for (const [name, value] of search) {
    const match = PAYLOAD_PARAM.exec(name);
    if (match) payload.push({ path: match[1] as string, op: match[2] as PayloadOp, value });
  }
  const range = search.get("range");
  return {
    mode: search.get("mode") === "history" ? "history" : "live",
    eventType: search.get(KEYS.eventType) ?? "",
    sourceApp: search.get(KEYS.sourceApp) ?? "",
    agentName: search.get(KEYS.agentName) ?? "",
    correlationId: search.get(KEYS.correlationId) ?? "",
    payload,
    search: search.get(KEYS.search) ?? "",
    range: range !== null && (range === "custom" || range in RANGES) ? (range as TimeRange) : NO_QUERY.range,
    since: search.get("since") ?? "",
    until: search.get("until") ?? "",
    cursor: search.get("cursor") ?? "",
    direction: search.get("dir") === "newer" ? "newer" : "older",
  };
}

export function queryToSearch(query: EventsQuery): URLSearchParams {
  const search = new URLSearchParams();
  if (query.mode === "history") search.set("mode", "history");
  for (const name of ["eventType", "sourceApp", "agentName", "correlationId", "search"] as const) {
    const value = query[name].trim();
    if (value !== "") search.set(KEYS[name], value);
  }
  // Every row is kept, half-typed ones too, so the form reads back what the person is typing.
  for (const condition of query.payload) search.append(`payload.${condition.path}[${condition.op}]`, condition.value);
  if (query.mode === "history") {
    if (query.range !== NO_QUERY.range) search.set("range", query.range);
    if (query.range === "custom") {
      if (query.since !== "") search.set("since", query.since);
      if (query.until !== "") search.set("until", query.until);
    }
    if (query.cursor !== "") {
      search.set("cursor", query.cursor);
      if (query.direction === "newer") search.set("dir", "newer");
    }
  }
  return search;
}

/**
 * Old live links named the type filter `type`, the source `source` and the agent `agent`; the
 * address now uses the API's names. The query in today's names, or null when nothing is old.
 */
export function upgradeLegacySearch(search: URLSearchParams): URLSearchParams | null {
  const renames = { type: KEYS.eventType, source: KEYS.sourceApp, agent: KEYS.agentName } as const;
  if (!Object.keys(renames).some((old) => search.has(old))) return null;
  const upgraded = new URLSearchParams();
  for (const [name, value] of search) {
    const renamed = (renames as Record<string, string>)[name];
    if (renamed === undefined) upgraded.append(name, value);
    else if (!search.has(renamed)) upgraded.set(renamed, value);
  }
  return upgraded;
}

/** The window a history query covers, at `nowMs`: RFC 3339 times, null where open. */
export function windowOf(query: EventsQuery, nowMs: number): { since: string | null; until: string | null } {
  if (query.range === "custom") return { since: query.since || null, until: query.until || null };
  return { since: new Date(nowMs - RANGES[query.range]).toISOString(), until: null };
}

/** The parameters of `GET /events` for a history view at `nowMs` (besides `limit`, `order` and `cursor`). */
export function apiFilters(query: EventsQuery, nowMs: number): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of ["eventType", "sourceApp", "agentName", "correlationId"] as const) {
    const value = query[name].trim();
    if (value !== "") params[KEYS[name]] = value;
  }
  const { since, until } = windowOf(query, nowMs);
  if (since !== null) params.since = since;
  if (until !== null) params.until = until;
  for (const condition of activeConditions(query.payload)) {
    params[`payload.${condition.path.trim()}[${condition.op}]`] = condition.op === "exists" ? "true" : condition.value;
  }
  return params;
}

/**
 * A `GET /events` cursor at one stored event, so a page can be read in either direction from its
 * first or last row. Candystore's cursors are keyset positions (gumdrop/pagination.py): the time
 * and the id, `[iso time, uuid hex]` as JSON in base64url without padding.
 */
export function cursorAt(timestamp: string, eventId: string): string {
  const json = JSON.stringify([timestamp, eventId.replace(/-/g, "").toLowerCase()]);
  return btoa(json).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
