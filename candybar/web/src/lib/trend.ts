// The conflicts page's trend: conflicts detected per clock hour (UTC) over the last day, as bars.

export const HOUR_MS = 3_600_000;

export interface HourBucket {
  /** Start of the hour, milliseconds since the epoch. */
  start: number;
  count: number;
}

/**
 * How many of `times` fall in each of the `hours` clock hours up to the one holding `nowMs`, oldest
 * first (the last hour is still running). Times outside that span, or that are no time, are left out.
 */
export function hourlyCounts(times: readonly string[], nowMs: number, hours = 24): HourBucket[] {
  const current = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
  const first = current - (hours - 1) * HOUR_MS;
  const buckets = Array.from({ length: hours }, (_, index) => ({ start: first + index * HOUR_MS, count: 0 }));
  for (const time of times) {
    const at = Date.parse(time);
    if (Number.isNaN(at) || at < first || at >= current + HOUR_MS) continue;
    const bucket = buckets[Math.floor((at - first) / HOUR_MS)];
    if (bucket) bucket.count += 1;
  }
  return buckets;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One bar per count in a `width` × `height` box, zero at the bottom; a non-zero count is never invisible. */
export function bars(counts: readonly number[], width: number, height: number, gap = 2): Bar[] {
  if (counts.length === 0) return [];
  const top = Math.max(1, ...counts);
  const slot = width / counts.length;
  return counts.map((count, index) => {
    const tall = count === 0 ? 0 : Math.max(1, (count / top) * height);
    return { x: index * slot + gap / 2, y: height - tall, width: Math.max(1, slot - gap), height: tall };
  });
}
