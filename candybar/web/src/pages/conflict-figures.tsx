// The conflicts page's figures: the OKR tiles, and the conflict rate per hour over the last day.
import type { JSX } from "preact";

import type { VisibilityClient } from "../api/visibility";
import { HourBars } from "../components/hour-bars";
import { Loading } from "../components/states";
import { formatNumber } from "../lib/format";
import { counted, okrTiles, periodText } from "../lib/okr";
import { overallRate, rateBuckets, rateText } from "../lib/trend";
import { useLatest } from "../hooks";

const TREND_HOURS = 24;

const GRADE_TEXT = { green: "meets its target", amber: "", red: "misses its target", none: "no target, or nothing measured yet" };

/** A figure that could not be loaded: one quiet line, as the list below says in full what failed. */
function Unavailable(props: { what: string; error: Error }): JSX.Element {
  return (
    <p class="unavailable muted" role="status">
      No {props.what}: {props.error.message}
    </p>
  );
}

export function OkrTiles(props: { visibility: VisibilityClient; round: number }): JSX.Element {
  const okr = useLatest(() => props.visibility.okr(), [props.visibility, props.round]);
  if (okr.data === undefined) {
    return okr.error ? <Unavailable what="OKR figures" error={okr.error} /> : <Loading what="the OKR figures" />;
  }
  const figures = okr.data;
  return (
    <div class="okr">
      <div class="indicators okr-tiles">
        {okrTiles(figures).map((tile) => (
          <div
            key={tile.key}
            class={`indicator ${tile.grade}`}
            data-okr={tile.key}
            data-grade={tile.grade}
            data-empty={tile.empty ? "true" : undefined}
            title={GRADE_TEXT[tile.grade]}
          >
            <h2>{tile.label}</h2>
            <p class={tile.empty ? "value empty" : "value"}>{tile.value}</p>
            <p class="objective">{tile.objective ? `Target ${tile.objective}` : "No target"}</p>
          </div>
        ))}
      </div>
      <p class="muted okr-note">
        Over {periodText(figures)}: {counted(figures.events, "retail event")} checked, {counted(figures.conflicts_opened, "conflict")} opened.
        Now {formatNumber(figures.unresolved)} unresolved, {formatNumber(figures.escalated)} escalated.
      </p>
    </div>
  );
}

/** Rules whose conflicts are disputed past their limit, each with the change the disputes suggest. */
export function FlaggedRules(props: { visibility: VisibilityClient; round: number }): JSX.Element | null {
  const answer = useLatest(() => props.visibility.rules(), [props.visibility, props.round]);
  const flagged = (answer.data?.rules ?? []).filter((rule) => rule.health.flagged);
  if (flagged.length === 0) {
    return null;
  }
  return (
    <div class="issues flagged-rules" role="alert">
      <h2>Rules disputed too often</h2>
      <ul>
        {flagged.map((rule) => (
          <li key={rule.id} data-rule={rule.id}>
            <strong>{rule.id}</strong>: {formatNumber(rule.health.disputed)} of {formatNumber(rule.health.resolved)}{" "}
            resolutions disputed ({rule.health.disputed_share_percent}%, limit {rule.health.max_disputed_share_percent}%).{" "}
            {rule.health.suggestion}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ConflictTrend(props: { visibility: VisibilityClient; round: number }): JSX.Element {
  const answer = useLatest(() => props.visibility.trend(TREND_HOURS), [props.visibility, props.round]);
  const items = answer.data?.items ?? [];
  const opened = items.reduce((sum, item) => sum + item.conflicts_opened, 0);
  return (
    <div class="card trend">
      <h2>Conflict rate per hour, last {TREND_HOURS} h</h2>
      {answer.data === undefined ? (
        answer.error ? (
          <Unavailable what="trend" error={answer.error} />
        ) : (
          <Loading what="the trend" />
        )
      ) : (
        <>
          <HourBars
            buckets={rateBuckets(items)}
            label={`Conflict rate per hour over the last ${TREND_HOURS} hours; above a bar, the conflicts opened in that hour`}
          />
          <p class="muted axis">
            <span>{TREND_HOURS} h ago</span>
            <span class="trend-total" title="events in conflict, in percent of the retail events checked">
              {rateText(overallRate(items))} in conflict, {counted(opened, "conflict")} opened
            </span>
            <span>now</span>
          </p>
        </>
      )}
    </div>
  );
}
