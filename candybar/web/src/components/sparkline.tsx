// A small line of events per second over the last minute.
import type { JSX } from "preact";

import { sparklinePath } from "../lib/rate";

export function Sparkline(props: { values: readonly number[]; width?: number; height?: number; label: string }): JSX.Element {
  const width = props.width ?? 160;
  const height = props.height ?? 28;
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.label}>
      <path d={sparklinePath(props.values, width, height)} />
    </svg>
  );
}
