// The shared OKR "Accuracy to Reality" as tiles: each figure of GET /okr in its unit, graded by
// whether the visibility layer says it meets its target. A figure the API answers null for has
// nothing to measure yet, and its tile says what is missing (e.g. "nothing due yet"), never 100 %.
import type { Grade } from "./slo";
import type { Okr } from "./conflicts";
import { formatDuration, formatNumber } from "./format";

type Unit = "percent" | "seconds" | "count";

export interface OkrTile {
  key: string;
  label: string;
  value: string;
  /** Whether the figure has nothing to measure yet (`value` then says why). */
  empty: boolean;
  /** green: meets its target; red: misses it; none: no target, or nothing measured yet. */
  grade: Grade;
  objective: string | null;
}

/** Each tile, and what its figure being null means (the API's definitions). */
const TILES: { key: keyof Okr & string; label: string; unit: Unit; empty: string }[] = [
  { key: "conflict_rate_percent", label: "Conflict rate", unit: "percent", empty: "no events yet" },
  { key: "time_to_detect_mean_seconds", label: "Time to detect, mean", unit: "seconds", empty: "no conflict yet" },
  { key: "time_to_detect_p95_seconds", label: "Time to detect, p95", unit: "seconds", empty: "no conflict yet" },
  // Null while no conflict is 24 h old: early resolutions alone would read 100 %.
  { key: "resolution_rate_24h_percent", label: "Resolved within 24 h", unit: "percent", empty: "nothing due yet" },
  { key: "customer_impact_incidents_7d", label: "Customer-impact incidents, 7 days", unit: "count", empty: "—" },
  { key: "disputed_share_percent", label: "Disputed share", unit: "percent", empty: "nothing resolved yet" },
];

function inUnit(value: number, unit: Unit, digits = 2): string {
  if (unit === "percent") return `${formatNumber(value, digits)} %`;
  if (unit === "seconds") return formatDuration(value * 1000);
  return formatNumber(value);
}

/** `< 300` (seconds) → `below 5 min`; a target the UI cannot read is shown as it came. */
export function objectiveText(target: string, unit: Unit): string {
  const match = /^\s*([<>])\s*(-?\d+(?:\.\d+)?)\s*$/.exec(target);
  if (!match) return target;
  const value = Number(match[2]);
  const whole = Number.isInteger(value);
  const text = unit === "seconds" && whole && value >= 60 && value % 60 === 0 ? `${value / 60} min` : inUnit(value, unit, whole ? 0 : 2);
  return `${match[1] === "<" ? "below" : "above"} ${text}`;
}

export function okrTiles(okr: Okr): OkrTile[] {
  return TILES.map(({ key, label, unit, empty }) => {
    const raw = okr[key];
    const value = typeof raw === "number" ? raw : null;
    const target = okr.targets[key];
    return {
      key,
      label,
      value: value === null ? empty : inUnit(value, unit),
      empty: value === null,
      grade: value === null || !target || target.met === null ? "none" : target.met ? "green" : "red",
      objective: target ? objectiveText(target.target, unit) : null,
    };
  });
}

/** `the last 7 days`, `the last 36 hours`: the period the figures look back over. */
export function periodText(okr: Okr): string {
  const hours = Math.round((Date.parse(okr.period.until) - Date.parse(okr.period.since)) / 3_600_000);
  if (Number.isNaN(hours)) return "the period";
  if (hours % 24 === 0 && hours >= 48) return `the last ${hours / 24} days`;
  return hours === 1 ? "the last hour" : `the last ${hours} hours`;
}

/** `1 conflict`, `2 conflicts`. */
export function counted(count: number, noun: string): string {
  return `${formatNumber(count)} ${noun}${count === 1 ? "" : "s"}`;
}
