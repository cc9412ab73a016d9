// A small bar chart of counts per hour, oldest on the left; each bar says its hour and count on hover.
import type { JSX } from "preact";

import { formatTimestamp } from "../lib/format";
import { bars, HOUR_MS, type HourBucket } from "../lib/trend";

export function HourBars(props: { buckets: readonly HourBucket[]; label: string; width?: number; height?: number }): JSX.Element {
  const width = props.width ?? 320;
  const height = props.height ?? 56;
  const shapes = bars(
    props.buckets.map((bucket) => bucket.count),
    width,
    height,
  );
  return (
    <svg class="hour-bars" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.label}>
      <line x1={0} y1={height - 0.5} x2={width} y2={height - 0.5} class="baseline" />
      {props.buckets.map((bucket, index) => {
        const shape = shapes[index];
        if (!shape) return null;
        const hour = `${formatTimestamp(new Date(bucket.start).toISOString()).slice(0, 16)}–${formatTimestamp(new Date(bucket.start + HOUR_MS).toISOString()).slice(11, 16)} UTC`;
        return (
          <g key={bucket.start} class="bar" data-hour={new Date(bucket.start).toISOString()} data-count={bucket.count}>
            <title>{`${hour}: ${bucket.count} conflict${bucket.count === 1 ? "" : "s"}`}</title>
            {/* A transparent full-height target, so an empty hour can be hovered too. */}
            <rect x={shape.x} y={0} width={shape.width} height={height} class="hit" />
            <rect x={shape.x} y={shape.y} width={shape.width} height={shape.height} />
          </g>
        );
      })}
    </svg>
  );
}
