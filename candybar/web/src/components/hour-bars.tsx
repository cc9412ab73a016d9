// A small bar chart of one value per hour, oldest on the left; each bar says its hour and what it
// stands for on hover, and its label (if any) above it.
import type { JSX } from "preact";

import { formatTimestamp } from "../lib/format";
import { bars, HOUR_MS, type HourBucket } from "../lib/trend";

/** Room above the bars for their labels. */
const LABEL_SPACE = 11;

function hourText(start: number): string {
  const from = formatTimestamp(new Date(start).toISOString()).slice(0, 16);
  const to = formatTimestamp(new Date(start + HOUR_MS).toISOString()).slice(11, 16);
  return `${from}–${to} UTC`;
}

export function HourBars(props: { buckets: readonly HourBucket[]; label: string; width?: number; height?: number }): JSX.Element {
  const width = props.width ?? 320;
  const height = props.height ?? 56;
  const top = props.buckets.some((bucket) => bucket.label !== undefined) ? LABEL_SPACE : 0;
  const shapes = bars(
    props.buckets.map((bucket) => bucket.value),
    width,
    height - top,
  );
  return (
    <svg class="hour-bars" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.label}>
      <line x1={0} y1={height - 0.5} x2={width} y2={height - 0.5} class="baseline" />
      {props.buckets.map((bucket, index) => {
        const shape = shapes[index];
        if (!shape) return null;
        return (
          <g key={bucket.start} class="bar" data-hour={new Date(bucket.start).toISOString()} data-value={bucket.value} data-label={bucket.label}>
            <title>{`${hourText(bucket.start)}: ${bucket.text}`}</title>
            {/* A transparent full-height target, so an empty hour can be hovered too. */}
            <rect x={shape.x} y={0} width={shape.width} height={height} class="hit" />
            <rect x={shape.x} y={top + shape.y} width={shape.width} height={shape.height} />
            {bucket.label === undefined ? null : (
              <text x={shape.x + shape.width / 2} y={top + shape.y - 2} class="bar-label">
                {bucket.label}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
