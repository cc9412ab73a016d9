// Conflicts as the visibility API answers them, checked before use, and the lifecycle's rules as the
// page applies them before asking: which actions a status allows, and which need a reason.
import { z } from "zod";

export const STATUSES = ["open", "acknowledged", "fixed", "accepted", "disputed"] as const;
export type Status = (typeof STATUSES)[number];
export const ACTIONS = ["acknowledge", "fix", "accept", "dispute"] as const;
export type Action = (typeof ACTIONS)[number];

const moment = z.string().min(1);

export const ActionRecordSchema = z.object({
  action: z.string(),
  actor: z.string(),
  note: z.string().nullable(),
  at: moment,
  status_after: z.string(),
});

export const ConflictSchema = z.object({
  conflict_id: z.string(),
  rule: z.string(),
  rule_version: z.number().int(),
  severity: z.string(),
  status: z.enum(STATUSES),
  product_id: z.string(),
  store_id: z.string(),
  teams: z.array(z.string()),
  source_event_ids: z.array(z.string()),
  occurred_at: moment,
  detected_at: moment,
  last_detected_at: moment.optional(),
  occurrence_count: z.number().int(),
  customer_facing: z.boolean(),
  /** Checked on its own (lib/evidence): a conflict whose evidence is odd is still listed and can be acted on. */
  details: z.unknown(),
  detected_event_id: z.string(),
  acknowledged_at: moment.nullable(),
  resolved_at: moment.nullable(),
  escalation: z.object({ level: z.string().nullable(), escalated_to: z.string().nullable(), escalated_at: moment.nullable() }),
  actions: z.array(ActionRecordSchema).optional(),
});

export const ConflictPageSchema = z.object({ items: z.array(ConflictSchema), next_cursor: z.string().nullable() });

const figure = z.number().nullable();

export const OkrSchema = z.object({
  period: z.object({ since: moment, until: moment }),
  conflict_rate_percent: figure,
  time_to_detect_mean_seconds: figure,
  time_to_detect_p95_seconds: figure,
  resolution_rate_24h_percent: figure,
  customer_impact_incidents_7d: z.number(),
  disputed_share_percent: figure,
  events: z.number(),
  conflicting_events: z.number(),
  conflicts_opened: z.number(),
  unresolved: z.number(),
  escalated: z.number(),
  targets: z.record(z.string(), z.object({ target: z.string(), met: z.boolean().nullable() })),
});

export type ActionRecord = z.infer<typeof ActionRecordSchema>;
export type Conflict = z.infer<typeof ConflictSchema>;
export type ConflictPage = z.infer<typeof ConflictPageSchema>;
export type Okr = z.infer<typeof OkrSchema>;

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
