// The health page's indicators, computed from what the components serve on /metrics, /health/ready
// and Candystore's /stats, each graded against its objective (report table 8.4.1).
import { histogramQuantile, ratioOf, sumOf, type Sample } from "./prometheus";
import { grade, OBJECTIVES, type Grade, type Objective } from "./slo";

export interface Indicator {
  key: string;
  label: string;
  value: number | null;
  unit: "ratio" | "seconds" | "count" | "per-second";
  grade: Grade;
  objective: string | null;
  note: string;
}

export interface Scrape {
  /** Milliseconds since the epoch. */
  at: number;
  gateway: Sample[] | null;
  candystore: Sample[] | null;
  deadLettersOpen: number | null;
  storedPerSecond: number | null;
}

const PUBLISHED = ["ok", "unrouted"];
const PUBLISH_COUNTED = ["ok", "unrouted", "failed", "unavailable"];

function indicator(
  key: string,
  value: number | null,
  unit: Indicator["unit"],
  objective: Objective | null,
  note: string,
  label?: string,
): Indicator {
  return {
    key,
    label: label ?? objective?.label ?? key,
    value,
    unit,
    grade: objective ? grade(value, objective) : "none",
    objective: objective?.text ?? null,
    note,
  };
}

function published(samples: Sample[] | null): number | null {
  return samples ? sumOf(samples, "bloodbank_publish_total", { outcome: PUBLISHED }) : null;
}

/** Events published per second between two scrapes of the gateway; null without two. */
export function publishRate(previous: Scrape | null, current: Scrape): number | null {
  const before = published(previous?.gateway ?? null);
  const now = published(current.gateway);
  if (previous === null || before === null || now === null || current.at <= previous.at || now < before) return null;
  return (now - before) / ((current.at - previous.at) / 1000);
}

export function indicators(current: Scrape, previous: Scrape | null): Indicator[] {
  const gateway = current.gateway;
  const store = current.candystore;
  const publishSuccess = gateway
    ? (() => {
        const counted = sumOf(gateway, "bloodbank_publish_total", { outcome: PUBLISH_COUNTED });
        return counted ? (sumOf(gateway, "bloodbank_publish_total", { outcome: PUBLISHED }) ?? 0) / counted : null;
      })()
    : null;
  const rate = publishRate(previous, current) ?? current.storedPerSecond;
  return [
    indicator(
      "publish-rate",
      rate,
      "per-second",
      null,
      previous?.gateway && current.gateway ? "published through the gateway, since the last refresh" : "stored per second, last minute",
      "Publish rate",
    ),
    indicator("publish-success", publishSuccess, "ratio", OBJECTIVES.publishSuccess, "confirmed by the broker, of the publishes the gateway tried (since it started)"),
    indicator(
      "storage-success",
      store ? ratioOf(store, "candystore_store_total", "outcome", ["stored", "duplicate"]) : null,
      "ratio",
      OBJECTIVES.storageSuccess,
      "stored (or already stored), of the events Candystore consumed",
    ),
    indicator(
      "validation-success",
      gateway ? ratioOf(gateway, "bloodbank_validation_total", "result", ["valid"]) : null,
      "ratio",
      OBJECTIVES.validationSuccess,
      "valid envelopes and payloads, of those the gateway checked",
    ),
    indicator("latency-p50", store ? histogramQuantile(store, "candystore_e2e_latency_seconds", 0.5) : null, "seconds", null, "envelope timestamp → committed", "End-to-end latency p50"),
    indicator("latency-p95", store ? histogramQuantile(store, "candystore_e2e_latency_seconds", 0.95) : null, "seconds", null, "envelope timestamp → committed", "End-to-end latency p95"),
    indicator("latency-p99", store ? histogramQuantile(store, "candystore_e2e_latency_seconds", 0.99) : null, "seconds", OBJECTIVES.latencyP99, "envelope timestamp → committed"),
    indicator("dead-letters", current.deadLettersOpen, "count", OBJECTIVES.deadLetters, "open dead letters kept by Candystore"),
  ];
}

export interface ComponentStatus {
  name: string;
  grade: Grade;
  text: string;
}

/** A component's status from its /health/ready answer: ready is green, answering but not ready amber, silent red. */
export function componentStatus(
  name: string,
  ready: { status: number; body: unknown } | null,
  options: { optional?: boolean } = {},
): ComponentStatus {
  if (ready === null || ready.status === 0) {
    return options.optional
      ? { name, grade: "none", text: "not running" }
      : { name, grade: "red", text: "unreachable" };
  }
  const body = typeof ready.body === "object" && ready.body !== null ? (ready.body as Record<string, unknown>) : {};
  const details = Object.entries(body)
    .filter(([key, value]) => key !== "status" && typeof value === "string")
    .map(([key, value]) => `${key} ${value as string}`)
    .join(", ");
  if (ready.status === 200) return { name, grade: "green", text: details ? `ready (${details})` : "ready" };
  const errors = (body.errors as { message?: string }[] | undefined)?.map((error) => error.message).join("; ");
  return { name, grade: "amber", text: errors || `not ready (HTTP ${ready.status})` };
}

/** One chart of the health page over time: lines over the minutes, and the objective's lines. */
export interface SeriesChart {
  key: string;
  title: string;
  unit: "per-second" | "ratio" | "seconds";
  /** Seconds since the epoch, one per minute. */
  times: number[];
  lines: { label: string; values: (number | null)[] }[];
  /** Horizontal lines: the objective and the alert threshold. */
  thresholds: { label: string; value: number; kind: "objective" | "alert" }[];
  note: string;
}

/** What `GET /stats/series` answers, as far as the charts read it. */
export interface SeriesAnswer {
  points: readonly {
    minute: string;
    stored: number;
    dead_lettered: number;
    latency_p50: number | null;
    latency_p95: number | null;
    latency_p99: number | null;
    lag: number | null;
  }[];
}

function thresholdsOf(objective: Objective, transform: (value: number) => number = (value) => value): SeriesChart["thresholds"] {
  return [
    { label: "objective", value: transform(objective.objective), kind: "objective" },
    { label: "alert", value: transform(objective.alert), kind: "alert" },
  ];
}

/** The charts of rate, error ratio, latency percentiles and lag from Candystore's per-minute series. */
export function seriesCharts(answer: SeriesAnswer): SeriesChart[] {
  const points = answer.points;
  const times = points.map((point) => Date.parse(point.minute) / 1000);
  const errorRatio = points.map((point) => {
    const seen = point.stored + point.dead_lettered;
    return seen === 0 ? null : point.dead_lettered / seen;
  });
  const failed = (ratio: number): number => 1 - ratio;
  return [
    {
      key: "rate",
      title: "Stored per second",
      unit: "per-second",
      times,
      lines: [{ label: "stored/s", values: points.map((point) => point.stored / 60) }],
      thresholds: [],
      note: "events stored, by their timestamp's minute",
    },
    {
      key: "error-ratio",
      title: "Error ratio",
      unit: "ratio",
      times,
      lines: [{ label: "dead-lettered", values: errorRatio }],
      thresholds: thresholdsOf(OBJECTIVES.storageSuccess, failed),
      note: "dead letters, of the events stored or dead-lettered in the minute",
    },
    {
      key: "latency",
      title: "End-to-end latency",
      unit: "seconds",
      times,
      lines: [
        { label: "p50", values: points.map((point) => point.latency_p50) },
        { label: "p95", values: points.map((point) => point.latency_p95) },
        { label: "p99", values: points.map((point) => point.latency_p99) },
      ],
      thresholds: thresholdsOf(OBJECTIVES.latencyP99),
      note: "envelope timestamp → committed; the objective is the p99's",
    },
    {
      key: "lag",
      title: "Lag",
      unit: "seconds",
      times,
      lines: [{ label: "lag", values: points.map((point) => point.lag) }],
      thresholds: thresholdsOf(OBJECTIVES.latencyP99),
      note: "the largest latency of each minute: how far behind publishing the store ran (the latency objective for reference)",
    },
  ];
}
