// The service level objectives of the platform (report table 8.4.1), and how a measured value
// grades against one: green meets the objective, red is past the alert threshold, amber between.

export type Grade = "green" | "amber" | "red" | "none";

export interface Objective {
  label: string;
  /** The objective: at least this (higher is better) or below this (lower is better). */
  objective: number;
  /** Past this the indicator alerts. */
  alert: number;
  higherIsBetter: boolean;
  /** How the objective reads, e.g. `≥ 99.9%`. */
  text: string;
}

export const OBJECTIVES = {
  publishSuccess: { label: "Publish success", objective: 0.999, alert: 0.995, higherIsBetter: true, text: "≥ 99.9%, alert < 99.5%" },
  storageSuccess: { label: "Storage success", objective: 0.999, alert: 0.995, higherIsBetter: true, text: "≥ 99.9%, alert < 99.5%" },
  validationSuccess: { label: "Validation success", objective: 0.99, alert: 0.95, higherIsBetter: true, text: "≥ 99.0%, alert < 95.0%" },
  latencyP99: { label: "End-to-end latency p99", objective: 0.5, alert: 1.0, higherIsBetter: false, text: "< 500 ms, alert > 1000 ms" },
  deadLetters: { label: "Dead letters open", objective: 100, alert: 1000, higherIsBetter: false, text: "< 100, alert > 1000" },
} as const satisfies Record<string, Objective>;

/** How `value` grades against `objective`; `none` when there is no value to grade. */
export function grade(value: number | null | undefined, objective: Objective): Grade {
  if (value === null || value === undefined || Number.isNaN(value)) return "none";
  if (objective.higherIsBetter) {
    if (value >= objective.objective) return "green";
    return value < objective.alert ? "red" : "amber";
  }
  if (value < objective.objective) return "green";
  return value > objective.alert ? "red" : "amber";
}

/** The worst of several grades (red over amber over green); `none` only when all are. */
export function worst(grades: readonly Grade[]): Grade {
  for (const candidate of ["red", "amber", "green"] as const) {
    if (grades.includes(candidate)) return candidate;
  }
  return "none";
}
