// Every view has its own address, so any of them can be linked to, bookmarked and reloaded.
import { statusFilterOf, type StatusFilter } from "./lib/conflicts";
import { filtersFromQuery, filtersToQuery, type LiveFilters } from "./lib/filters";

export interface DeadLetterQuery {
  state: string;
  consumer: string;
  eventType: string;
  reason: string;
}

export interface ConflictQuery {
  status: StatusFilter;
  rule: string;
  team: string;
}

export type Route =
  | { page: "live"; filters: LiveFilters }
  | { page: "event"; id: string }
  | { page: "trace"; id: string }
  | { page: "dead-letters"; query: DeadLetterQuery }
  | { page: "dead-letter"; id: string }
  | { page: "conflicts"; query: ConflictQuery }
  | { page: "conflict"; id: string }
  | { page: "schemas"; eventType: string | null }
  | { page: "health" }
  | { page: "not-found"; path: string };

export const NO_CONFLICT_QUERY: ConflictQuery = { status: "unresolved", rule: "", team: "" };

export const NO_DEAD_LETTER_QUERY: DeadLetterQuery = { state: "open", consumer: "", eventType: "", reason: "" };

const DLQ_KEYS = { state: "state", consumer: "consumer", eventType: "event_type", reason: "reason" } as const;

function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function parseRoute(pathname: string, search: string): Route {
  const query = new URLSearchParams(search);
  const parts = pathname.split("/").filter((part) => part !== "");
  const [first, second, ...rest] = parts;
  const id = second === undefined || rest.length > 0 ? null : decoded(second);
  switch (first) {
    case undefined:
    case "live":
      if (second === undefined) return { page: "live", filters: filtersFromQuery(query) };
      break;
    case "events":
      if (id) return { page: "event", id };
      break;
    case "trace":
      if (id) return { page: "trace", id };
      break;
    case "dead-letters":
      if (second === undefined) {
        return {
          page: "dead-letters",
          query: {
            state: query.get(DLQ_KEYS.state) ?? NO_DEAD_LETTER_QUERY.state,
            consumer: query.get(DLQ_KEYS.consumer) ?? "",
            eventType: query.get(DLQ_KEYS.eventType) ?? "",
            reason: query.get(DLQ_KEYS.reason) ?? "",
          },
        };
      }
      if (id) return { page: "dead-letter", id };
      break;
    case "conflicts":
      if (second === undefined) {
        return {
          page: "conflicts",
          query: { status: statusFilterOf(query.get("status")), rule: query.get("rule") ?? "", team: query.get("team") ?? "" },
        };
      }
      if (id) return { page: "conflict", id };
      break;
    case "schemas":
      if (second === undefined) return { page: "schemas", eventType: null };
      if (id) return { page: "schemas", eventType: id };
      break;
    case "health":
      if (second === undefined) return { page: "health" };
      break;
    default:
      break;
  }
  return { page: "not-found", path: pathname };
}

function withQuery(path: string, query: URLSearchParams): string {
  const text = query.toString();
  return text === "" ? path : `${path}?${text}`;
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case "live":
      return withQuery("/live", filtersToQuery(route.filters));
    case "event":
      return `/events/${encodeURIComponent(route.id)}`;
    case "trace":
      return `/trace/${encodeURIComponent(route.id)}`;
    case "dead-letters": {
      const query = new URLSearchParams();
      for (const name of ["state", "consumer", "eventType", "reason"] as const) {
        const value = route.query[name].trim();
        if (value !== "" || name === "state") query.set(DLQ_KEYS[name], value);
      }
      return withQuery("/dead-letters", query);
    }
    case "dead-letter":
      return `/dead-letters/${encodeURIComponent(route.id)}`;
    case "conflicts": {
      const query = new URLSearchParams({ status: route.query.status });
      for (const name of ["rule", "team"] as const) {
        const value = route.query[name].trim();
        if (value !== "") query.set(name, value);
      }
      return withQuery("/conflicts", query);
    }
    case "conflict":
      return `/conflicts/${encodeURIComponent(route.id)}`;
    case "schemas":
      return route.eventType === null ? "/schemas" : `/schemas/${encodeURIComponent(route.eventType)}`;
    case "health":
      return "/health";
    case "not-found":
      return route.path;
  }
}

/** Go to `href` inside the app (no reload); listeners of `popstate` re-read the location. */
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
}
