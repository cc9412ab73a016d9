// A chart over time drawn by uPlot (canvas: thousands of points cost little), in the theme's colours,
// with the objective and alert lines dashed, and a sentence for screen readers saying what it shows.
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { formatDuration, formatNumber, formatPercent } from "../lib/format";
import type { SeriesChart } from "../lib/health";

const HEIGHT = 180;

function valueText(unit: SeriesChart["unit"], value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (unit === "ratio") return formatPercent(value, 3);
  if (unit === "seconds") return formatDuration(value * 1000);
  return `${formatNumber(value, 2)}/s`;
}

function colour(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** What a reader of the screen hears instead of the picture: the latest and the largest value of each line. */
export function chartSummary(chart: SeriesChart): string {
  const parts = chart.lines.map((line) => {
    const known = line.values.filter((value): value is number => value !== null);
    if (known.length === 0) return `${line.label}: no data`;
    return `${line.label} latest ${valueText(chart.unit, known[known.length - 1])}, highest ${valueText(chart.unit, Math.max(...known))}`;
  });
  const limits = chart.thresholds.map((line) => `${line.label} ${valueText(chart.unit, line.value)}`);
  return `${chart.title} per minute: ${parts.join("; ")}${limits.length > 0 ? `. Lines at ${limits.join(", ")}` : ""}.`;
}

/** The theme set on the page (the canvas is drawn again in the other one's colours). */
function useTheme(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? "system");
  useEffect(() => {
    const observer = new MutationObserver(() => setTheme(document.documentElement.dataset.theme ?? "system"));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => observer.disconnect();
  }, []);
  return theme;
}

export function TimeChart(props: { chart: SeriesChart }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const { chart } = props;
  const theme = useTheme();
  useEffect(() => {
    const element = box.current;
    if (element === null) return undefined;
    const palette = [colour("--accent"), colour("--amber"), colour("--red")];
    const axis = { stroke: colour("--muted"), grid: { stroke: colour("--line"), width: 1 }, ticks: { stroke: colour("--line") } };
    const series: uPlot.Series[] = [
      {},
      ...chart.lines.map((line, index) => ({
        label: line.label,
        stroke: palette[index % palette.length],
        width: 1.5,
        spanGaps: false,
        value: (_: uPlot, value: number | null) => valueText(chart.unit, value),
      })),
      ...chart.thresholds.map((line) => ({
        label: line.label,
        stroke: line.kind === "alert" ? colour("--red") : colour("--green"),
        dash: [6, 4],
        width: 1,
        points: { show: false },
        value: () => valueText(chart.unit, line.value),
      })),
    ];
    const data: uPlot.AlignedData = [
      chart.times,
      ...chart.lines.map((line) => line.values),
      ...chart.thresholds.map((line) => chart.times.map(() => line.value)),
    ];
    const options: uPlot.Options = {
      width: Math.max(240, element.clientWidth),
      height: HEIGHT,
      series,
      axes: [{ ...axis }, { ...axis, size: 64, values: (_: uPlot, ticks: number[]) => ticks.map((tick) => valueText(chart.unit, tick)) }],
      scales: { x: { time: true }, y: { range: (_: uPlot, min: number, max: number) => [0, Math.max(max, min, ...chart.thresholds.map((line) => line.value)) * 1.1 || 1] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      tzDate: (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
    };
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(240, element.clientWidth), height: HEIGHT }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [chart, theme]);
  return (
    <figure class="time-chart" data-chart={chart.key}>
      <figcaption>
        <strong>{chart.title}</strong> <span class="muted">{chart.note}</span>
      </figcaption>
      <div ref={box} class="time-chart-plot" role="img" aria-label={chartSummary(chart)} />
    </figure>
  );
}
