import { describe, expect, it } from "vitest";

import { checkEvent, checkMessage, jsonPath } from "../src/lib/envelope";
import { envelope, OFFER_PAYLOAD, WORKFLOW_PAYLOAD } from "./fixtures";

describe("checking incoming events with the Holyfields Zod schemas", () => {
  it("accepts a valid envelope and keeps what the page shows", () => {
    const raw = envelope({ agent_context: { type: "claude", name: "pricer" } });
    const checked = checkEvent(raw);
    expect(checked.issues).toEqual([]);
    expect(checked.envelope).toBe(raw);
    expect(checked.eventId).toBe(raw.event_id);
    expect(checked.sourceApp).toBe("pricing");
    expect(checked.agentName).toBe("pricer");
    expect(checked.searchText).toContain("magic-apron");
  });

  it("flags a payload that breaks its type's schema, with the path of the bad field", () => {
    const checked = checkEvent(envelope({ payload: { ...OFFER_PAYLOAD, price: "39.98" } }));
    expect(checked.envelope).toBeNull();
    expect(checked.issues.map((issue) => issue.path)).toEqual(["$.payload.price"]);
  });

  it("flags an envelope with a misspelt field and a bad id, and still shows what it can", () => {
    const raw = { ...envelope({ event_id: "not-a-uuid" }), correlation_id: "x" };
    const checked = checkEvent(raw);
    const paths = checked.issues.map((issue) => issue.path);
    expect(paths).toContain("$.event_id");
    expect(checked.issues.some((issue) => issue.message.includes("correlation_id"))).toBe(true);
    expect(checked.eventType).toBe("retail.offer.surfaced.v1");
    expect(checked.envelope).toBeNull();
  });

  it("flags an event type without a registered schema", () => {
    const checked = checkEvent(envelope({ event_type: "unknown.thing.happened.v1", payload: {} }));
    expect(checked.issues).toEqual([{ path: "$.event_type", message: "no schema is registered for unknown.thing.happened.v1" }]);
  });

  it("validates each payload by its own type", () => {
    const good = checkEvent(envelope({ event_type: "n8n.workflow.started.v1", payload: WORKFLOW_PAYLOAD }));
    const crossed = checkEvent(envelope({ event_type: "n8n.workflow.started.v1", payload: OFFER_PAYLOAD }));
    expect(good.issues).toEqual([]);
    expect(crossed.issues.length).toBeGreaterThan(0);
  });

  it("never throws on garbage: a message that is not JSON or not an object is flagged", () => {
    for (const message of ["{not json", "42", "null", '"text"', "[]"]) {
      const checked = checkMessage(message);
      expect(checked.issues.length).toBeGreaterThan(0);
      expect(checked.key).toMatch(/^invalid-/);
    }
    expect(checkMessage("{not json").issues[0]?.path).toBe("$");
  });

  it("reads a message that wraps the envelope as {event: …}", () => {
    const raw = envelope();
    expect(checkMessage(JSON.stringify({ event: raw })).eventId).toBe(raw.event_id);
    expect(checkMessage(JSON.stringify(raw)).eventId).toBe(raw.event_id);
  });

  it("writes JSON paths with keys and indexes", () => {
    expect(jsonPath([])).toBe("$");
    expect(jsonPath(["payload", "items", 3, "sku"])).toBe("$.payload.items[3].sku");
  });
});
