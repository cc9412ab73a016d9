// The live page's filters: what they match, and how they travel in a deep link.
import type { CheckedEvent } from "./envelope";

export interface LiveFilters {
  /** An exact event type, or a pattern where `*` stands for one or more characters (as Candystore's). */
  type: string;
  source: string;
  agent: string;
  /** Case-insensitive text searched for in the payload (and the event id). */
  search: string;
}

export const NO_FILTERS: LiveFilters = { type: "", source: "", agent: "", search: "" };

const QUERY_KEYS = { type: "type", source: "source", agent: "agent", search: "q" } as const;

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

/** A predicate for a type pattern; the empty pattern matches everything. */
export function typeMatcher(pattern: string): (eventType: string) => boolean {
  const trimmed = pattern.trim();
  if (trimmed === "") return () => true;
  if (!trimmed.includes("*")) return (eventType) => eventType === trimmed;
  const regex = new RegExp(`^${trimmed.split("*").map(escapeRegExp).join(".+")}$`);
  return (eventType) => regex.test(eventType);
}

/** A predicate for all the filters at once (built once per change, applied to every event). */
export function eventMatcher(filters: LiveFilters): (event: CheckedEvent) => boolean {
  const type = typeMatcher(filters.type);
  const source = filters.source.trim();
  const agent = filters.agent.trim();
  const search = filters.search.trim().toLowerCase();
  return (event) =>
    type(event.eventType) &&
    (source === "" || event.sourceApp === source) &&
    (agent === "" || event.agentName === agent) &&
    (search === "" || event.searchText.includes(search) || (event.eventId ?? "").toLowerCase().includes(search));
}

export function isFiltering(filters: LiveFilters): boolean {
  return Object.values(filters).some((value) => value.trim() !== "");
}

export function filtersFromQuery(query: URLSearchParams): LiveFilters {
  return {
    type: query.get(QUERY_KEYS.type) ?? "",
    source: query.get(QUERY_KEYS.source) ?? "",
    agent: query.get(QUERY_KEYS.agent) ?? "",
    search: query.get(QUERY_KEYS.search) ?? "",
  };
}

export function filtersToQuery(filters: LiveFilters): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of ["type", "source", "agent", "search"] as const) {
    const value = filters[name].trim();
    if (value !== "") query.set(QUERY_KEYS[name], value);
  }
  return query;
}
