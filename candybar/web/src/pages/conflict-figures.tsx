// The conflicts page's figures: the OKR tiles, and the conflicts detected per hour over the last day.
import type { JSX } from "preact";

import type { VisibilityClient } from "../api/visibility";
import { HourBars } from "../components/hour-bars";
import { Loading } from "../components/states";
import { formatNumber } from "../lib/format";
import { counted, okrTiles, periodText } from "../lib/okr";
import { hourlyCounts, HOUR_MS } from "../lib/trend";
import { useLatest } from "../hooks";

const TREND_HOURS = 24;
const TREND_LIMIT = 1000;

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
          <div key={tile.key} class={`indicator ${tile.grade}`} data-okr={tile.key} data-grade={tile.grade} title={GRADE_TEXT[tile.grade]}>
            <h2>{tile.label}</h2>
            <p class="value">{tile.value}</p>
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

export function ConflictTrend(props: { visibility: VisibilityClient; round: number }): JSX.Element {
  const answer = useLatest(async () => {
    const now = Date.now();
    const since = Math.floor(now / HOUR_MS) * HOUR_MS - (TREND_HOURS - 1) * HOUR_MS;
    const page = await props.visibility.conflicts({ since: new Date(since).toISOString(), limit: TREND_LIMIT });
    return { buckets: hourlyCounts(page.items.map((item) => item.detected_at), now, TREND_HOURS), more: page.next_cursor !== null };
  }, [props.visibility, props.round]);
  const total = answer.data ? answer.data.buckets.reduce((sum, bucket) => sum + bucket.count, 0) : null;
  return (
    <div class="card trend">
      <h2>Conflicts detected per hour, last {TREND_HOURS} h</h2>
      {answer.data === undefined ? (
        answer.error ? (
          <Unavailable what="trend" error={answer.error} />
        ) : (
          <Loading what="the trend" />
        )
      ) : (
        <>
          <HourBars buckets={answer.data.buckets} label={`Conflicts detected per hour over the last ${TREND_HOURS} hours`} />
          <p class="muted axis">
            <span>{TREND_HOURS} h ago</span>
            <span class="trend-total">
              {formatNumber(total)}
              {answer.data.more ? "+" : ""} in {TREND_HOURS} h
            </span>
            <span>now</span>
          </p>
        </>
      )}
    </div>
  );
}
