// A conflict's evidence side by side: one column per observation (the teams' offers, then the
// inventory), one row per thing they said, and the rows where they disagree marked. Besides price,
// stock and time, each field the rule read (a placement's page and slot, say) gets a row of its own.
import { VisibilityConflictDetectedV1ConflictDetailsSchema } from "@holyfields";
import type { VisibilityConflictDetectedV1Observation as Observation } from "@holyfields";

import { jsonPath, type Issue } from "./envelope";
import { formatNumber, formatTimestamp } from "./format";

export type { Observation };

export interface EvidenceColumn {
  /** The team that showed the offer, or "Inventory" for the ground truth. */
  label: string;
  source: Observation["source"];
  eventId: string;
}

/** A standard row, or `field:NAME` for a field the rule read. */
export type EvidenceField = "price" | "availability" | "units" | "observed" | `field:${string}`;

export interface EvidenceRow {
  field: EvidenceField;
  label: string;
  /** One text per column, in the columns' order. */
  cells: string[];
  /** The observations say different things here: the contradiction the rule found is in such a row. */
  differs: boolean;
}

export interface Evidence {
  summary: string;
  measured: number | null;
  threshold: number | null;
  columns: EvidenceColumn[];
  rows: EvidenceRow[];
}

export type EvidenceResult = { ok: true; evidence: Evidence } | { ok: false; issues: Issue[] };

type Stock = "in" | "out" | null;

/** What an observation says about the stock: an offer by its availability, the inventory by its units on hand. */
export function stockOf(observation: Observation): Stock {
  if (observation.source === "inventory") return observation.on_hand === null ? null : observation.on_hand > 0 ? "in" : "out";
  if (observation.availability === "in_stock" || observation.availability === "limited") return "in";
  return observation.availability === "out_of_stock" ? "out" : null;
}

function availabilityText(observation: Observation): string {
  if (observation.source === "inventory") {
    const stock = stockOf(observation);
    return stock === null ? "—" : stock === "in" ? "in stock (on hand)" : "none on hand";
  }
  return observation.availability?.replaceAll("_", " ") ?? "—";
}

function unitsText(observation: Observation): string {
  const units = observation.source === "inventory" ? observation.on_hand : observation.quantity;
  if (units === null || units === undefined) return "—";
  return `${formatNumber(units)} ${observation.source === "inventory" ? "on hand" : "shown"}`;
}

function priceText(price: number | null): string {
  return price === null ? "—" : formatNumber(price, 2);
}

function distinct(values: readonly unknown[]): number {
  return new Set(values.filter((value) => value !== null && value !== undefined)).size;
}

/** Offers first, in the order the detector gave them (the earlier one first), the inventory last. */
export function orderObservations(observations: readonly Observation[]): Observation[] {
  return [...observations.filter((item) => item.source === "offer"), ...observations.filter((item) => item.source !== "offer")];
}

const SHOWN_ABOVE = new Set(["price", "availability", "quantity", "on_hand"]);

/** A row per field the rule read that the standard rows do not show: the entity's and the compared ones. */
function fieldRows(observations: readonly Observation[]): EvidenceRow[] {
  const names = [...new Set(observations.flatMap((item) => Object.keys(item.fields ?? {})))].filter((name) => !SHOWN_ABOVE.has(name));
  return names.map((name) => {
    const values = observations.map((item) => item.fields?.[name] ?? null);
    return {
      field: `field:${name}` as const,
      label: name.replaceAll("_", " "),
      cells: values.map((value) => (value === null ? "—" : String(value))),
      differs: distinct(values) > 1,
    };
  });
}

/** The evidence of a conflict's `details`, checked against the Holyfields schema of the detected event. */
export function pairEvidence(details: unknown): EvidenceResult {
  const parsed = VisibilityConflictDetectedV1ConflictDetailsSchema.safeParse(details);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map((issue) => ({ path: jsonPath(["details", ...issue.path]), message: issue.message })) };
  }
  const observations = orderObservations(parsed.data.observations);
  const columns = observations.map((item) => ({
    label: item.team ?? (item.source === "inventory" ? "Inventory" : item.source),
    source: item.source,
    eventId: item.event_id,
  }));
  const units = observations.map((item) => (item.source === "inventory" ? item.on_hand : (item.quantity ?? null)));
  const said: EvidenceRow[] = [
    { field: "price", label: "Price", cells: observations.map((item) => priceText(item.price)), differs: distinct(observations.map((item) => item.price)) > 1 },
    { field: "availability", label: "Availability", cells: observations.map(availabilityText), differs: distinct(observations.map(stockOf)) > 1 },
    { field: "units", label: "Quantity / on hand", cells: observations.map(unitsText), differs: distinct(units) > 1 },
  ];
  const rows: EvidenceRow[] = [
    ...said.filter((row) => row.cells.some((cell) => cell !== "—")),
    ...fieldRows(observations),
    { field: "observed", label: "Observed at", cells: observations.map((item) => formatTimestamp(item.observed_at)), differs: false },
  ];
  return {
    ok: true,
    evidence: {
      summary: parsed.data.summary,
      measured: parsed.data.measured ?? null,
      threshold: parsed.data.threshold ?? null,
      columns,
      rows,
    },
  };
}
