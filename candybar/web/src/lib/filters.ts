// The live page's filters: what they match, and how they travel in a deep link.
import type { CheckedEvent } from "./envelope";

export interface LiveFilters {
  /** An exact event type, or a pattern as Candystore's: `*` is exactly one word, `#` zero or more words. */
  type: string;
  source: string;
  agent: string;
  /** Case-insensitive text searched for in the payload (and the event id). */
  search: string;
}

export const NO_FILTERS: LiveFilters = { type: "", source: "", agent: "", search: "" };

const QUERY_KEYS = { type: "type", source: "source", agent: "agent", search: "q" } as const;

/** What the filter fields say about type patterns (the same words as Candystore's API). */
export const TYPE_PATTERN_HINT = "* matches exactly one word, # any number of words: retail.# or *.workflow.*.v1";

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
