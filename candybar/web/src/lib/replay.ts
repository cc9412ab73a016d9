// The replay page's form read into the filters of `POST /replay`, and a replay's progress in words.
import type { Problem } from "../api/http";
import type { ReplayFilters, ReplayProgress } from "../api/operations";

export interface ReplayForm {
  /** `<input type="datetime-local">` values: local time, no offset. */
  since: string;
  until: string;
  eventType: string;
  sourceApp: string;
}

export const NO_REPLAY_FORM: ReplayForm = { since: "", until: "", eventType: "", sourceApp: "" };

export interface FormProblem {
  field: keyof ReplayForm;
  message: string;
}

/** A local date and time as RFC 3339 in UTC, or null when it is no time at all. */
export function localToRfc3339(value: string): string | null {
  if (value.trim() === "") return null;
  const moment = new Date(value);
  return Number.isNaN(moment.getTime()) ? null : moment.toISOString();
}

/**
 * The filters the form says, or what is wrong with it. A replay needs a start: replaying every stored
 * event is never one click away.
 */
export function replayFiltersOf(form: ReplayForm): { filters: ReplayFilters; problems: FormProblem[] } {
  const problems: FormProblem[] = [];
  const filters: ReplayFilters = {};
  const since = localToRfc3339(form.since);
  const until = localToRfc3339(form.until);
  if (since === null) problems.push({ field: "since", message: "Give the start of the time range." });
  else filters.since = since;
  if (form.until.trim() !== "" && until === null) problems.push({ field: "until", message: "Not a date and time." });
  else if (until !== null) filters.until = until;
  if (since !== null && until !== null && until <= since) problems.push({ field: "until", message: "The end must come after the start." });
  if (form.eventType.trim() !== "") filters.event_type = form.eventType.trim();
  if (form.sourceApp.trim() !== "") filters.source_app = form.sourceApp.trim();
  return { filters, problems };
}

/** How much of a replay is handled, from 0 to 1 (1 once it finished, whatever it matched). */
export function progressRatio(progress: ReplayProgress): number {
  if (progress.done) return 1;
  if (progress.matched === 0) return 0;
  return Math.min(1, (progress.published + progress.invalid + progress.failed) / progress.matched);
}

/** One line of what a replay did so far. */
export function progressText(progress: ReplayProgress): string {
  const handled = progress.published + progress.invalid + progress.failed;
  const head =
    progress.state === "done"
      ? `Done: ${progress.published} of ${progress.matched} republished`
      : progress.state === "failed"
        ? `Stopped after ${progress.published} of ${progress.matched}: ${progress.error ?? "no reason given"}`
        : `Replaying: ${handled} of ${progress.matched} handled, ${progress.published} republished`;
  const refused = [
    progress.invalid > 0 ? `${progress.invalid} no longer valid` : "",
    progress.failed > 0 ? `${progress.failed} refused by the broker` : "",
  ].filter((part) => part !== "");
  return refused.length > 0 ? `${head} (${refused.join(", ")}).` : `${head}.`;
}

const FIELD_OF_PARAMETER: Readonly<Record<string, keyof ReplayForm>> = {
  "query.since": "since",
  "query.until": "until",
  "query.event_type": "eventType",
  "query.source_app": "sourceApp",
};

/** The problems Candystore named at a filter, as problems of the form's fields (the others are left out). */
export function formProblemsOf(problems: readonly Problem[]): FormProblem[] {
  return problems.flatMap((problem) => {
    const field = problem.path === null ? undefined : FIELD_OF_PARAMETER[problem.path];
    return field === undefined ? [] : [{ field, message: problem.message }];
  });
}
