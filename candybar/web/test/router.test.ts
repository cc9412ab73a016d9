import { describe, expect, it } from "vitest";

import { NO_QUERY } from "../src/lib/filters";
import { currentAddress, NO_CONFLICT_QUERY, NO_DEAD_LETTER_QUERY, parseRoute, routeHref, type Route } from "../src/router";

describe("deep links", () => {
  const routes: Route[] = [
    { page: "events", query: { ...NO_QUERY, eventType: "retail.#", sourceApp: "pricing", search: "x y" } },
    { page: "events", query: { ...NO_QUERY, mode: "history", range: "7d", payload: [{ path: "qty", op: "lt", value: "3" }], cursor: "c", direction: "older" } },
    { page: "event", id: "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b" },
    { page: "trace", id: "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b" },
    { page: "dead-letters", query: { state: "", consumer: "candystore.events", eventType: "*.offer.#", reason: "timeout" } },
    { page: "dead-letters", query: NO_DEAD_LETTER_QUERY },
    { page: "dead-letter", id: "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b" },
    { page: "schemas", eventType: null },
    { page: "schemas", eventType: "retail.offer.surfaced.v1" },
    { page: "health" },
    { page: "conflicts", query: NO_CONFLICT_QUERY },
    { page: "conflicts", query: { status: "", rule: "price_mismatch", team: "magic-apron", product_id: "", store_id: "" } },
    { page: "conflicts", query: { status: "escalated", rule: "", team: "", product_id: "", store_id: "" } },
    { page: "conflicts", query: { status: "", rule: "price_mismatch", team: "", product_id: "p 1/2", store_id: "s&1" } },
    { page: "conflict", id: "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b" },
  ];

  it.each(routes)("every view has an address that leads back to it: %o", (route) => {
    const url = new URL(routeHref(route), "http://ui");
    expect(parseRoute(url.pathname, url.search)).toEqual(route);
  });

  it("sends old live links to the events page with the API's parameter names", () => {
    expect(currentAddress("/live", "?type=retail.%23")).toBe("/events?event_type=retail.%23");
    expect(currentAddress("/live", "")).toBe("/events");
    expect(currentAddress("/events", "?type=n8n.%23&q=x")).toBe("/events?event_type=n8n.%23&q=x");
    expect(currentAddress("/events", "?event_type=n8n.%23")).toBeNull();
    expect(currentAddress("/schemas", "?type=x")).toBeNull();
  });

  it("starts on the live events and shows open dead letters by default", () => {
    expect(parseRoute("/", "")).toEqual({ page: "events", query: NO_QUERY });
    expect(parseRoute("/dead-letters", "")).toMatchObject({ query: { state: "open" } });
    expect(parseRoute("/conflicts", "")).toEqual({ page: "conflicts", query: NO_CONFLICT_QUERY });
    expect(routeHref({ page: "conflicts", query: NO_CONFLICT_QUERY })).toBe("/conflicts?status=unresolved");
  });

  it("encodes what it puts in a path", () => {
    expect(routeHref({ page: "event", id: "a/b?c" })).toBe("/events/a%2Fb%3Fc");
    expect(parseRoute("/events/a%2Fb%3Fc", "")).toEqual({ page: "event", id: "a/b?c" });
  });

  it("answers unknown addresses with the not-found page", () => {
    for (const path of ["/nope", "/events/a/b", "/events/%E0%A4%A", "/health/extra", "/conflicts/a/b"]) {
      expect(parseRoute(path, "").page).toBe("not-found");
    }
  });
});
