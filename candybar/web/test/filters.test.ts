import { describe, expect, it } from "vitest";

import { checkEvent } from "../src/lib/envelope";
import { eventMatcher, filtersFromQuery, filtersToQuery, isFiltering, NO_FILTERS, typeMatcher } from "../src/lib/filters";
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

describe("live filters", () => {
  const offer = checkEvent(envelope({ agent_context: { type: "claude", name: "pricer" } }));
  const workflow = checkEvent(
    envelope({ event_type: "n8n.workflow.started.v1", payload: WORKFLOW_PAYLOAD, source: { host: "n8n-1", type: "webhook", app: "n8n" } }),
  );

  it("combines type, source, agent and payload search", () => {
    const keep = (filters: Partial<typeof NO_FILTERS>) =>
      [offer, workflow].filter(eventMatcher({ ...NO_FILTERS, ...filters })).map((event) => event.eventType);
    expect(keep({})).toEqual(["retail.offer.surfaced.v1", "n8n.workflow.started.v1"]);
    expect(keep({ type: "n8n.#" })).toEqual(["n8n.workflow.started.v1"]);
    expect(keep({ source: "pricing" })).toEqual(["retail.offer.surfaced.v1"]);
    expect(keep({ agent: "pricer" })).toEqual(["retail.offer.surfaced.v1"]);
    expect(keep({ search: "WEEKLY platform" })).toEqual(["n8n.workflow.started.v1"]);
    expect(keep({ search: "weekly", source: "pricing" })).toEqual([]);
  });

  it("finds an event by a piece of its id", () => {
    const piece = (workflow.eventId as string).slice(-6);
    expect([offer, workflow].filter(eventMatcher({ ...NO_FILTERS, search: piece }))).toEqual([workflow]);
  });

  it("travels in the address and back", () => {
    const filters = { type: "retail.#", source: "pricing", agent: "", search: "apron & co" };
    const query = filtersToQuery(filters);
    expect(query.toString()).toBe("type=retail.%23&source=pricing&q=apron+%26+co");
    expect(filtersFromQuery(new URLSearchParams(query.toString()))).toEqual(filters);
    expect(isFiltering(filters)).toBe(true);
    expect(isFiltering(NO_FILTERS)).toBe(false);
  });
});
