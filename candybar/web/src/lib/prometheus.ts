// Reading the Prometheus text format the components serve on /metrics, and the sums and
// quantiles the health page needs from it.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char));
}

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/** Every sample in `text`; comments and lines that do not parse are skipped. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (match === null) continue;
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText) {
      LABEL.lastIndex = 0;
      let label: RegExpExecArray | null;
      while ((label = LABEL.exec(labelText)) !== null) {
        labels[label[1] as string] = unescape(label[2] as string);
      }
    }
    const value = parseValue(valueText);
    if (!Number.isNaN(value)) samples.push({ name, labels, value });
  }
  return samples;
}

function matchesLabels(sample: Sample, labels: Record<string, string | string[]>): boolean {
  return Object.entries(labels).every(([key, wanted]) => {
    const value = sample.labels[key];
    return value !== undefined && (Array.isArray(wanted) ? wanted.includes(value) : value === wanted);
  });
}

/** The sum of the samples named `name` whose labels match; null when there is none. */
export function sumOf(samples: readonly Sample[], name: string, labels: Record<string, string | string[]> = {}): number | null {
  let total: number | null = null;
  for (const sample of samples) {
    if (sample.name === name && matchesLabels(sample, labels)) total = (total ?? 0) + sample.value;
  }
  return total;
}

/** The share of `good` among all samples named `name`, by the `label` label; null without any. */
export function ratioOf(samples: readonly Sample[], name: string, label: string, good: readonly string[]): number | null {
  const all = sumOf(samples, name);
  if (all === null || all === 0) return null;
  return (sumOf(samples, name, { [label]: [...good] }) ?? 0) / all;
}

/**
 * The `q` quantile (0..1) of histogram `name` (its `_bucket` samples summed over other labels),
 * interpolated linearly inside the bucket as Prometheus' `histogram_quantile` does; null without observations.
 */
export function histogramQuantile(samples: readonly Sample[], name: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket` || sample.labels.le === undefined) continue;
    const bound = parseValue(sample.labels.le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + sample.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket === 0 ? bound : lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}
