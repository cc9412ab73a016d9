// Every view has its own address, so any of them can be linked to, bookmarked and reloaded.
import { statusFilterOf, type StatusFilter } from "./lib/conflicts";
import { queryFromSearch, queryToSearch, upgradeLegacySearch, type EventsQuery } from "./lib/filters";
import { DEFAULT_RANGE, rangeOf, type PatternsRange } from "./lib/patterns";

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
  product_id: string;
  store_id: string;
}

/** The conflicts page's text filters, named as the visibility API and the address name them. */
const CONFLICT_FILTERS = ["rule", "team", "product_id", "store_id"] as const;

export type Route =
  | { page: "events"; query: EventsQuery }
  | { page: "event"; id: string }
  | { page: "trace"; id: string }
  | { page: "dead-letters"; query: DeadLetterQuery }
  | { page: "dead-letter"; id: string }
  | { page: "conflicts"; query: ConflictQuery }
  | { page: "conflict"; id: string }
  | { page: "schemas"; eventType: string | null }
  | { page: "health" }
  | { page: "consumers" }
  | { page: "replay"; id: string | null }
  | { page: "patterns"; range: PatternsRange }
  | { page: "not-found"; path: string };

export const NO_CONFLICT_QUERY: ConflictQuery = { status: "unresolved", rule: "", team: "", product_id: "", store_id: "" };

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
    case "live": // the page's old name: old links still open it
      if (second === undefined) return { page: "events", query: queryFromSearch(upgradeLegacySearch(query) ?? query) };
      break;
    case "events":
      if (second === undefined) return { page: "events", query: queryFromSearch(upgradeLegacySearch(query) ?? query) };
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
          query: {
            status: statusFilterOf(query.get("status")),
            rule: query.get("rule") ?? "",
            team: query.get("team") ?? "",
            product_id: query.get("product_id") ?? "",
            store_id: query.get("store_id") ?? "",
          },
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
    case "consumers":
      if (second === undefined) return { page: "consumers" };
      break;
    case "replay":
      if (second === undefined) return { page: "replay", id: query.get("id") || null };
      break;
    case "patterns":
      if (second === undefined) return { page: "patterns", range: rangeOf(query.get("range")) };
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
    case "events":
      return withQuery("/events", queryToSearch(route.query));
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
      for (const name of CONFLICT_FILTERS) {
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
    case "consumers":
      return "/consumers";
    case "replay":
      return route.id === null ? "/replay" : withQuery("/replay", new URLSearchParams({ id: route.id }));
    case "patterns":
      return route.range === DEFAULT_RANGE ? "/patterns" : withQuery("/patterns", new URLSearchParams({ range: route.range }));
    case "not-found":
      return route.path;
  }
}

/**
 * Where an old address of the events page now lives (`/live`, `?type=` instead of `?event_type=`),
 * or null when the address is current: the app replaces the old one, so what is shared is current.
 */
export function currentAddress(pathname: string, search: string): string | null {
  const route = parseRoute(pathname, search);
  if (route.page !== "events") return null;
  const old = pathname.replace(/\/+$/, "") === "/live" || upgradeLegacySearch(new URLSearchParams(search)) !== null;
  return old ? routeHref(route) : null;
}

/** Go to `href` inside the app (no reload); listeners of `popstate` re-read the location. */
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
}
