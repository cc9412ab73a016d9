// Conflicts as the visibility API answers them (the types are generated from its OpenAPI document), and
// the lifecycle's rules as the page applies them before asking: which actions a status allows, and which
// need a reason.
import type { components } from "../api/visibility.generated";

type Schemas = components["schemas"];
export type Status = Schemas["Status"];
export type Action = Schemas["Action"];
export type ActionRecord = Schemas["ActionModel"];
export type Conflict = Schemas["ConflictModel"];
/** A conflict with every action taken on it (`GET /conflicts/{id}`, and the answer to an action). */
export type ConflictDetail = Schemas["ConflictDetailModel"];
export type ConflictPage = Schemas["ConflictPageModel"];
export type Okr = Schemas["OkrModel"];
export type Rules = Schemas["RulesModel"];
export type Trend = Schemas["TrendModel"];
export type TrendHour = Schemas["TrendHourModel"];
/** What one action on many conflicts did to each (`POST /conflict-actions`). */
export type BulkActionAnswer = Schemas["BulkActionModel"];
export type BulkAction = Schemas["BulkActionRequest"]["action"];

/** The actions in the order their buttons show. */
export const ACTIONS = ["acknowledge", "fix", "accept", "dispute"] as const satisfies readonly Action[];

/** Whether the conflict still waits for a resolution. */
export function isUnresolved(status: Status): boolean {
  return status === "open" || status === "acknowledged";
}

/** Accepting or disputing is recorded with the reason; the API refuses them without one. */
export function needsReason(action: Action): boolean {
  return action === "accept" || action === "dispute";
}

/**
 * Why `action` cannot be applied to a conflict in `status` with `note`, or null when it can.
 * The same rules as the visibility layer's lifecycle, so a button says why it is off before anyone asks.
 */
export function actionProblem(status: Status, action: Action, note: string): string | null {
  if (needsReason(action) && note.trim() === "") {
    return action === "accept"
      ? "a reason is required to accept: say why the difference is acceptable"
      : "a reason is required to dispute: say why it is a false positive";
  }
  if (!isUnresolved(status)) return `already resolved (${status})`;
  if (action === "acknowledge") return status === "acknowledged" ? "already acknowledged: fix, accept or dispute it" : null;
  return status === "open" ? `acknowledge it before you ${action} it` : null;
}

/** The actions that apply to `status` (reason aside). */
export function availableActions(status: Status): Action[] {
  return ACTIONS.filter((action) => actionProblem(status, action, "reason") === null);
}

/** The status tabs of the conflicts page: a status, or a group the API knows. */
export const STATUS_FILTERS = [
  { value: "unresolved", label: "Unresolved" },
  { value: "open", label: "Open" },
  { value: "acknowledged", label: "Acknowledged" },
  { value: "escalated", label: "Escalated" },
  { value: "resolved", label: "Resolved" },
  { value: "", label: "All" },
] as const;

export type StatusFilter = (typeof STATUS_FILTERS)[number]["value"];

export function statusFilterOf(value: string | null): StatusFilter {
  const found = STATUS_FILTERS.find((item) => item.value === value);
  return found ? found.value : "unresolved";
}

/** The colour of a status pill: open is news, acknowledged is in hand, resolutions are done. */
export function statusTone(status: Status): "red" | "amber" | "green" | "grey" {
  if (status === "open") return "red";
  if (status === "acknowledged") return "amber";
  return status === "disputed" ? "grey" : "green";
}

export function severityTone(severity: string): "red" | "amber" | "grey" {
  if (severity === "critical" || severity === "high") return "red";
  return severity === "medium" ? "amber" : "grey";
}

/** The actions that apply to many conflicts at once, in the order their buttons show. */
export const BULK_ACTIONS = ["acknowledge", "accept", "dispute"] as const satisfies readonly BulkAction[];

/** Most conflicts one bulk action may name (the visibility API's bound). */
export const MAX_BULK = 500;

/**
 * Why `action` cannot be sent for the selected conflicts with `note`, or null when it can. Each conflict's
 * status is judged by the API (it answers per conflict), so only what holds for all of them is checked here.
 */
export function bulkProblem(action: BulkAction, selected: number, note: string): string | null {
  if (selected === 0) return "select at least one conflict";
  if (selected > MAX_BULK) return `select at most ${MAX_BULK} conflicts at once`;
  return needsReason(action) ? actionProblem("acknowledged", action, note) : null;
}

/** `2 acknowledged, 1 refused, 1 not found`: one line for what a bulk action did. */
export function bulkSummary(answer: BulkActionAnswer): string {
  const counts = { applied: 0, refused: 0, not_found: 0 };
  for (const result of answer.results) counts[result.outcome] += 1;
  const done = { acknowledge: "acknowledged", fix: "fixed", accept: "accepted", dispute: "disputed" }[answer.action];
  const parts = [`${counts.applied} ${done}`];
  if (counts.refused) parts.push(`${counts.refused} refused`);
  if (counts.not_found) parts.push(`${counts.not_found} not found`);
  return parts.join(", ");
}
