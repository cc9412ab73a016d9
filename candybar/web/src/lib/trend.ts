// The conflicts page's trend: the conflict rate per clock hour (UTC) from `GET /okr/trend`, as bars
// whose height is the rate and whose label is the conflicts opened in that hour.
import type { TrendHour } from "./conflicts";
import { formatNumber } from "./format";
import { counted } from "./okr";

export const HOUR_MS = 3_600_000;

/** One bar of an hourly chart. */
export interface HourBucket {
  /** Start of the hour, milliseconds since the epoch. */
  start: number;
  /** The bar's height, relative to the other bars'. */
  value: number;
  /** What the bar's tooltip says after its hour. */
  text: string;
  /** A short label drawn above the bar; none when undefined. */
  label?: string | undefined;
}

/** `2.50 %`, as the OKR tiles show a percentage; `—` when there is nothing to measure. */
export function rateText(percent: number | null): string {
  return percent === null ? "—" : `${formatNumber(percent, 2)} %`;
}

/**
 * The trend's hours as bars, oldest first: the conflict rate as the height (none for an hour with no
 * event checked), the conflicts opened as the label when there are any, all of it in the tooltip.
 * An hour that is no time is left out.
 */
export function rateBuckets(items: readonly TrendHour[]): HourBucket[] {
  return items.flatMap((item) => {
    const start = Date.parse(item.hour);
    if (Number.isNaN(start)) return [];
    const checked = `${formatNumber(item.conflicting_events)} of ${counted(item.events_checked, "event")} checked`;
    const text =
      item.events_checked === 0
        ? "no retail event checked"
        : `${rateText(item.conflict_rate)} in conflict (${checked}), ${counted(item.conflicts_opened, "conflict")} opened`;
    return [{ start, value: item.conflict_rate ?? 0, text, label: item.conflicts_opened > 0 ? formatNumber(item.conflicts_opened) : undefined }];
  });
}

/** The rate over all of `items`: events in conflict in percent of the events checked (not a mean of the hours' rates). */
export function overallRate(items: readonly TrendHour[]): number | null {
  const checked = items.reduce((sum, item) => sum + item.events_checked, 0);
  const conflicting = items.reduce((sum, item) => sum + item.conflicting_events, 0);
  return checked === 0 ? null : (conflicting / checked) * 100;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * One bar per value in a `width` × `height` box, zero at the bottom, the highest (or 1, when all are
 * lower) filling the box; a non-zero value is never invisible.
 */
export function bars(values: readonly number[], width: number, height: number, gap = 2): Bar[] {
  if (values.length === 0) return [];
  const top = Math.max(1, ...values);
  const slot = width / values.length;
  return values.map((value, index) => {
    const tall = value === 0 ? 0 : Math.max(1, (value / top) * height);
    return { x: index * slot + gap / 2, y: height - tall, width: Math.max(1, slot - gap), height: tall };
  });
}
