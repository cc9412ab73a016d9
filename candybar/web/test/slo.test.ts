import { describe, expect, it } from "vitest";

import { componentStatus, indicators, publishRate, seriesCharts, type Scrape } from "../src/lib/health";
import { histogramQuantile, parseMetrics, ratioOf, sumOf } from "../src/lib/prometheus";
import { grade, OBJECTIVES, worst } from "../src/lib/slo";

describe("grading against the objectives of table 8.4.1", () => {
  it("grades success rates: green at the objective, red below the alert threshold, amber between", () => {
    expect(grade(0.9995, OBJECTIVES.publishSuccess)).toBe("green");
    expect(grade(0.999, OBJECTIVES.publishSuccess)).toBe("green");
    expect(grade(0.997, OBJECTIVES.publishSuccess)).toBe("amber");
    expect(grade(0.995, OBJECTIVES.publishSuccess)).toBe("amber");
    expect(grade(0.994, OBJECTIVES.publishSuccess)).toBe("red");
    expect(grade(0.96, OBJECTIVES.validationSuccess)).toBe("amber");
    expect(grade(0.94, OBJECTIVES.validationSuccess)).toBe("red");
  });

  it("grades latency and dead letters where lower is better", () => {
    expect(grade(0.2, OBJECTIVES.latencyP99)).toBe("green");
    expect(grade(0.5, OBJECTIVES.latencyP99)).toBe("amber");
    expect(grade(1.0, OBJECTIVES.latencyP99)).toBe("amber");
    expect(grade(1.2, OBJECTIVES.latencyP99)).toBe("red");
    expect(grade(99, OBJECTIVES.deadLetters)).toBe("green");
    expect(grade(500, OBJECTIVES.deadLetters)).toBe("amber");
    expect(grade(1001, OBJECTIVES.deadLetters)).toBe("red");
  });

  it("does not grade what was not measured", () => {
    expect(grade(null, OBJECTIVES.deadLetters)).toBe("none");
    expect(grade(Number.NaN, OBJECTIVES.latencyP99)).toBe("none");
  });

  it("takes the worst of several grades", () => {
    expect(worst(["green", "amber", "none"])).toBe("amber");
    expect(worst(["green", "red", "amber"])).toBe("red");
    expect(worst(["none"])).toBe("none");
  });
});

const GATEWAY = `# HELP bloodbank_publish_total Events offered for publishing.
# TYPE bloodbank_publish_total counter
bloodbank_publish_total{event_type="retail.offer.surfaced.v1",outcome="ok"} 996.0
bloodbank_publish_total{event_type="n8n.workflow.started.v1",outcome="ok"} 2.0
bloodbank_publish_total{event_type="retail.offer.surfaced.v1",outcome="unavailable"} 2.0
bloodbank_publish_total{event_type="retail.offer.surfaced.v1",outcome="invalid"} 40.0
bloodbank_validation_total{stage="publish",result="valid"} 960.0
bloodbank_validation_total{stage="publish",result="invalid"} 40.0
`;

const CANDYSTORE = `candystore_store_total{outcome="stored"} 990.0
candystore_store_total{outcome="duplicate"} 5.0
candystore_store_total{outcome="invalid"} 5.0
candystore_e2e_latency_seconds_bucket{le="0.01"} 50.0
candystore_e2e_latency_seconds_bucket{le="0.1"} 90.0
candystore_e2e_latency_seconds_bucket{le="1.0"} 100.0
candystore_e2e_latency_seconds_bucket{le="+Inf"} 100.0
candystore_e2e_latency_seconds_count 100.0
candystore_e2e_latency_seconds_sum 4.2
`;

describe("reading Prometheus metrics", () => {
  it("parses samples with labels, escapes and special values", () => {
    const samples = parseMetrics('a_total{path="x\\"y",le="+Inf"} 3\nb 1.5e3 1700000000\n# comment\ngarbage line here\n');
    expect(samples).toEqual([
      { name: "a_total", labels: { path: 'x"y', le: "+Inf" }, value: 3 },
      { name: "b", labels: {}, value: 1500 },
    ]);
  });

  it("sums and divides by label", () => {
    const samples = parseMetrics(GATEWAY);
    expect(sumOf(samples, "bloodbank_publish_total", { outcome: "ok" })).toBe(998);
    expect(sumOf(samples, "missing")).toBeNull();
    expect(ratioOf(samples, "bloodbank_validation_total", "result", ["valid"])).toBeCloseTo(0.96);
  });

  it("interpolates histogram quantiles inside the bucket, as histogram_quantile does", () => {
    const samples = parseMetrics(CANDYSTORE);
    expect(histogramQuantile(samples, "candystore_e2e_latency_seconds", 0.5)).toBeCloseTo(0.01);
    expect(histogramQuantile(samples, "candystore_e2e_latency_seconds", 0.7)).toBeCloseTo(0.055);
    expect(histogramQuantile(samples, "candystore_e2e_latency_seconds", 0.99)).toBeCloseTo(0.91);
    expect(histogramQuantile(parseMetrics(""), "candystore_e2e_latency_seconds", 0.5)).toBeNull();
  });
});

describe("the health page's indicators", () => {
  const scrape = (at: number, gateway: string | null, extra: Partial<Scrape> = {}): Scrape => ({
    at,
    gateway: gateway === null ? null : parseMetrics(gateway),
    candystore: parseMetrics(CANDYSTORE),
    deadLettersOpen: 3,
    storedPerSecond: 12,
    ...extra,
  });

  it("computes every indicator and grades it", () => {
    const byKey = Object.fromEntries(indicators(scrape(0, GATEWAY), null).map((item) => [item.key, item]));
    expect(byKey["publish-success"]?.value).toBeCloseTo(998 / 1000);
    expect(byKey["publish-success"]?.grade).toBe("amber");
    expect(byKey["storage-success"]?.value).toBeCloseTo(0.995);
    expect(byKey["storage-success"]?.grade).toBe("amber");
    expect(byKey["validation-success"]?.grade).toBe("amber");
    expect(byKey["latency-p99"]?.grade).toBe("amber");
    expect(byKey["latency-p50"]?.grade).toBe("none");
    expect(byKey["dead-letters"]).toMatchObject({ value: 3, grade: "green" });
    expect(byKey["publish-rate"]?.value).toBe(12);
  });

  it("measures the publish rate between two scrapes", () => {
    const later = GATEWAY.replace("} 996.0", "} 1046.0");
    expect(publishRate(scrape(0, GATEWAY), scrape(10_000, later))).toBeCloseTo(5);
    expect(publishRate(null, scrape(10_000, later))).toBeNull();
    expect(publishRate(scrape(0, later), scrape(10_000, GATEWAY))).toBeNull(); // the gateway restarted
  });

  it("shows no data, ungraded, when a component's metrics are missing", () => {
    const items = indicators(scrape(0, null, { candystore: null, deadLettersOpen: null, storedPerSecond: null }), null);
    expect(items.every((item) => item.value === null && item.grade === "none")).toBe(true);
  });

  it("reads component status from /health/ready", () => {
    expect(componentStatus("Candystore", { status: 200, body: { status: "ready", database: "ok", broker: "ok" } })).toEqual({
      name: "Candystore",
      grade: "green",
      text: "ready (database ok, broker ok)",
    });
    expect(componentStatus("Gateway", { status: 503, body: { errors: [{ path: null, message: "broker down" }] } })).toMatchObject({
      grade: "amber",
      text: "broker down",
    });
    expect(componentStatus("Gateway", { status: 0, body: null }).grade).toBe("red");
    expect(componentStatus("Visibility", null, { optional: true }).grade).toBe("none");
  });
});

describe("the health charts over time", () => {
  const answer = {
    points: [
      { minute: "2026-12-06T12:00:00Z", stored: 120, dead_lettered: 0, latency_p50: 0.05, latency_p95: 0.2, latency_p99: 0.4, lag: 0.9 },
      { minute: "2026-12-06T12:01:00Z", stored: 0, dead_lettered: 0, latency_p50: null, latency_p95: null, latency_p99: null, lag: null },
      { minute: "2026-12-06T12:02:00Z", stored: 99, dead_lettered: 1, latency_p50: 0.06, latency_p95: 0.3, latency_p99: 1.2, lag: 2 },
    ],
  };
  const charts = seriesCharts(answer);
  const chart = (key: string) => charts.find((item) => item.key === key);

  it("charts rate, error ratio, latency percentiles and lag per minute", () => {
    expect(charts.map((item) => item.key)).toEqual(["rate", "error-ratio", "latency", "lag"]);
    expect(chart("rate")?.times).toEqual([1796558400, 1796558460, 1796558520]);
    expect(chart("rate")?.lines[0]?.values).toEqual([2, 0, 1.65]);
    expect(chart("error-ratio")?.lines[0]?.values).toEqual([0, null, 0.01]);
    expect(chart("latency")?.lines.map((line) => line.label)).toEqual(["p50", "p95", "p99"]);
  });

  it("draws the objective and the alert threshold, as error ratios where the objective is a success ratio", () => {
    expect(chart("latency")?.thresholds.map((line) => line.value)).toEqual([0.5, 1]);
    const ratio = chart("error-ratio")?.thresholds.map((line) => line.value) ?? [];
    expect(ratio[0]).toBeCloseTo(0.001);
    expect(ratio[1]).toBeCloseTo(0.005);
  });
});
