import { describe, expect, it } from "vitest";

import { orderObservations, pairEvidence, type Evidence } from "../src/lib/evidence";
import { observation } from "./fixtures";

function evidence(details: unknown): Evidence {
  const result = pairEvidence(details);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.evidence;
}

function row(found: Evidence, field: string) {
  const match = found.rows.find((item) => item.field === field);
  if (!match) throw new Error(`no row ${field}`);
  return match;
}

describe("a conflict's evidence side by side", () => {
  it("puts two teams' offers next to each other and marks the price they disagree on", () => {
    const first = observation({ team: "magic-apron", price: 39.98, quantity: 12 });
    const second = observation({ team: "search", price: 44.5, quantity: 12 });
    const found = evidence({ summary: "apart", observations: [first, second], measured: 11.3, threshold: 5 });
    expect(found.columns.map((column) => column.label)).toEqual(["magic-apron", "search"]);
    expect(found.columns.map((column) => column.eventId)).toEqual([first.event_id, second.event_id]);
    expect(row(found, "price")).toMatchObject({ cells: ["39.98", "44.50"], differs: true });
    expect(row(found, "availability")).toMatchObject({ cells: ["in stock", "in stock"], differs: false });
    expect(row(found, "units")).toMatchObject({ cells: ["12 shown", "12 shown"], differs: false });
    expect(row(found, "observed").differs).toBe(false);
    expect(found).toMatchObject({ summary: "apart", measured: 11.3, threshold: 5 });
  });

  it("shows a screen-space clash by the fields the rule read, without empty price and stock rows", () => {
    const slot = { page: "home", slot: "hero", channel: "web", store_id: "s1" };
    const first = observation({ team: "sponsored", source: "placement", price: null, availability: null, quantity: null, fields: { ...slot, product_id: "p1" } });
    const second = observation({ team: "recs-search", source: "placement", price: null, availability: null, quantity: null, fields: { ...slot, product_id: "p9" } });
    const found = evidence({ summary: "both claimed", observations: [first, second] });
    expect(found.columns.map((column) => column.label)).toEqual(["sponsored", "recs-search"]);
    expect(found.rows.map((item) => item.field)).toEqual([
      "field:page", "field:slot", "field:channel", "field:store_id", "field:product_id", "observed",
    ]);
    expect(row(found, "field:slot")).toMatchObject({ label: "slot", cells: ["hero", "hero"], differs: false });
    expect(row(found, "field:product_id")).toMatchObject({ label: "product id", cells: ["p1", "p9"], differs: true });
  });

  it("sets an offer against the inventory, the inventory last, and marks the stock they disagree on", () => {
    const truth = observation({ team: null, source: "inventory", price: 39.98, availability: null, quantity: null, on_hand: 0 });
    const offer = observation({ team: "magic-apron", availability: "limited", quantity: 3 });
    const found = evidence({ summary: "none on hand", observations: [truth, offer], measured: 0 });
    expect(found.columns.map((column) => [column.label, column.source])).toEqual([
      ["magic-apron", "offer"],
      ["Inventory", "inventory"],
    ]);
    expect(row(found, "price")).toMatchObject({ cells: ["39.98", "39.98"], differs: false });
    expect(row(found, "availability")).toMatchObject({ cells: ["limited", "none on hand"], differs: true });
    expect(row(found, "units")).toMatchObject({ cells: ["3 shown", "0 on hand"], differs: true });
    expect(found.threshold).toBeNull();
  });

  it("does not call an unknown availability a contradiction", () => {
    const found = evidence({
      summary: "price",
      observations: [
        observation({ availability: "unknown", quantity: null }),
        observation({ team: null, source: "inventory", availability: null, quantity: null, on_hand: 40, price: 10 }),
      ],
    });
    expect(row(found, "availability")).toMatchObject({ cells: ["unknown", "in stock (on hand)"], differs: false });
    expect(row(found, "price").differs).toBe(true);
  });

  it("keeps the detector's order among offers", () => {
    const a = observation({ team: "zeta" });
    const b = observation({ team: "alpha" });
    const inventory = observation({ team: null, source: "inventory", on_hand: 1, availability: null });
    expect(orderObservations([inventory, a, b] as never).map((item) => item.team)).toEqual(["zeta", "alpha", null]);
  });

  it("names every field of evidence that is not in the detected event's shape", () => {
    const result = pairEvidence({ summary: "", observations: [observation({ price: "39.98" })] });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((issue) => issue.path)).toEqual(["$.details.summary", "$.details.observations[0].price"]);
    }
    expect(pairEvidence(null).ok).toBe(false);
  });
});
