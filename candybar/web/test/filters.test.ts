import { describe, expect, it } from "vitest";

import { checkEvent } from "../src/lib/envelope";
import {
  apiFilters,
  cursorAt,
  eventMatcher,
  isFiltering,
  meetsCondition,
  NO_QUERY,
  queryFromSearch,
  queryToSearch,
  typeMatcher,
  upgradeLegacySearch,
  type EventsQuery,
} from "../src/lib/filters";
import { envelope, WORKFLOW_PAYLOAD } from "./fixtures";

describe("type patterns", () => {
  it("matches an exact type only exactly", () => {
    const match = typeMatcher("retail.offer.surfaced.v1");
    expect(match("retail.offer.surfaced.v1")).toBe(true);
    expect(match("retail.offer.surfaced.v10")).toBe(false);
  });

  it("reads * as exactly one word and # as any number of words, like Candystore's filter", () => {
    expect(typeMatcher("retail.#")("retail.offer.surfaced.v1")).toBe(true);
    expect(typeMatcher("retail.#")("retail")).toBe(true);
    expect(typeMatcher("retail.#")("retailer.offer.surfaced.v1")).toBe(false);
    expect(typeMatcher("retail.*")("retail.offer.surfaced.v1")).toBe(false);
    expect(typeMatcher("retail.*")("retail.offer")).toBe(true);
    expect(typeMatcher("*.workflow.*.v1")("n8n.workflow.started.v1")).toBe(true);
    expect(typeMatcher("*.workflow.*.v1")("n8n.workflow.started.v2")).toBe(false);
    expect(typeMatcher("#.v1")("n8n.workflow.started.v1")).toBe(true);
    expect(typeMatcher("retail.#.#.v1")("retail.v1")).toBe(true);
    expect(typeMatcher("#.offer.#")("retail.offer.surfaced.v1")).toBe(true);
    expect(typeMatcher("#.offer.#")("n8n.workflow.started.v1")).toBe(false);
  });

  it("answers a pattern of many # against a long type", () => {
    const long = Array.from({ length: 20000 }, () => "a").join(".");
    expect(typeMatcher(`${"#.a.".repeat(50)}z`)(`${long}.y`)).toBe(false);
  });

  it("treats regular-expression characters as text", () => {
    expect(typeMatcher("retail.(x).#")("retail.(x).y")).toBe(true);
    expect(typeMatcher("a.b")("axb")).toBe(false);
  });

  it("matches everything when empty", () => {
    expect(typeMatcher("  ")("anything")).toBe(true);
  });
});

describe("event filters", () => {
  const offer = checkEvent(envelope({ agent_context: { type: "claude", name: "pricer" } }));
  const workflow = checkEvent(
    envelope({ event_type: "n8n.workflow.started.v1", payload: WORKFLOW_PAYLOAD, source: { host: "n8n-1", type: "webhook", app: "n8n" } }),
  );

  it("combines type, source, agent and payload search", () => {
    const keep = (filters: Partial<EventsQuery>) =>
      [offer, workflow].filter(eventMatcher({ ...NO_QUERY, ...filters })).map((event) => event.eventType);
    expect(keep({})).toEqual(["retail.offer.surfaced.v1", "n8n.workflow.started.v1"]);
    expect(keep({ eventType: "n8n.#" })).toEqual(["n8n.workflow.started.v1"]);
    expect(keep({ sourceApp: "pricing" })).toEqual(["retail.offer.surfaced.v1"]);
    expect(keep({ agentName: "pricer" })).toEqual(["retail.offer.surfaced.v1"]);
    expect(keep({ search: "WEEKLY platform" })).toEqual(["n8n.workflow.started.v1"]);
    expect(keep({ search: "weekly", sourceApp: "pricing" })).toEqual([]);
  });

  it("finds an event by a piece of its id", () => {
    const piece = (workflow.eventId as string).slice(-6);
    expect([offer, workflow].filter(eventMatcher({ ...NO_QUERY, search: piece }))).toEqual([workflow]);
  });

  it("applies payload conditions to the live stream as Candystore does", () => {
    const payload = { price: 12.5, store: { id: "s1" }, tags: ["a"], name: "weekly apron" };
    expect(meetsCondition(payload, { path: "price", op: "lt", value: "20" })).toBe(true);
    expect(meetsCondition(payload, { path: "price", op: "gt", value: "20" })).toBe(false);
    expect(meetsCondition(payload, { path: "store.id", op: "eq", value: "s1" })).toBe(true);
    expect(meetsCondition(payload, { path: "store.id", op: "ne", value: "s1" })).toBe(false);
    expect(meetsCondition(payload, { path: "name", op: "contains", value: "apron" })).toBe(true);
    expect(meetsCondition(payload, { path: "tags", op: "contains", value: "a" })).toBe(true);
    expect(meetsCondition(payload, { path: "store.name", op: "exists", value: "" })).toBe(false);
    expect(meetsCondition(payload, { path: "store", op: "exists", value: "" })).toBe(true);
  });

  it("travels in the address and back, with the API's names", () => {
    const query: EventsQuery = {
      ...NO_QUERY,
      mode: "history",
      eventType: "retail.#",
      sourceApp: "pricing",
      search: "apron & co",
      payload: [{ path: "store.id", op: "eq", value: "s1" }],
      range: "custom",
      since: "2026-12-01T00:00:00Z",
      cursor: "abc",
      direction: "newer",
    };
    const search = queryToSearch(query);
    expect(search.toString()).toBe(
      "mode=history&event_type=retail.%23&source_app=pricing&q=apron+%26+co&payload.store.id%5Beq%5D=s1&range=custom&since=2026-12-01T00%3A00%3A00Z&cursor=abc&dir=newer",
    );
    expect(queryFromSearch(new URLSearchParams(search.toString()))).toEqual(query);
    expect(isFiltering(query)).toBe(true);
    expect(isFiltering(NO_QUERY)).toBe(false);
  });

  it("reads old live links by renaming their parameters", () => {
    expect(upgradeLegacySearch(new URLSearchParams("type=retail.%23&q=x"))?.toString()).toBe("event_type=retail.%23&q=x");
    expect(upgradeLegacySearch(new URLSearchParams("event_type=retail.%23"))).toBeNull();
  });

  it("asks Candystore for the window and the conditions that say something", () => {
    const now = Date.parse("2026-12-06T12:00:00Z");
    const query: EventsQuery = {
      ...NO_QUERY,
      mode: "history",
      range: "15m",
      agentName: "pricer",
      payload: [
        { path: "qty", op: "gt", value: "3" },
        { path: "sku", op: "exists", value: "" },
        { path: "", op: "eq", value: "half typed" },
      ],
    };
    expect(apiFilters(query, now)).toEqual({
      agent_name: "pricer",
      since: "2026-12-06T11:45:00.000Z",
      "payload.qty[gt]": "3",
      "payload.sku[exists]": "true",
    });
  });

  it("makes a cursor at an event the way Candystore's keyset pages do", () => {
    const cursor = cursorAt("2026-12-06T12:00:00.123456+00:00", "0193A5F2-7D4E-7C1A-8B2F-3C4D5E6F7A8B");
    expect(cursor).not.toMatch(/[+/=]/);
    const json = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    expect(JSON.parse(json)).toEqual(["2026-12-06T12:00:00.123456+00:00", "0193a5f27d4e7c1a8b2f3c4d5e6f7a8b"]);
  });
});
