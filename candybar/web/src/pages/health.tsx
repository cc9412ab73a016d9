// Health: the pipeline's indicators against their objectives, each component's status, and the
// store's rate, error ratio, latency and lag over the last hours beside their objectives.
import type { JSX } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

import type { CandystoreClient } from "../api/candystore";
import { probe, requestText } from "../api/http";
import { Failure, Loading } from "../components/states";
import { TimeChart } from "../components/time-chart";
import type { Config } from "../config";
import { formatDuration, formatNumber, formatPercent } from "../lib/format";
import { componentStatus, indicators, seriesCharts, type ComponentStatus, type Indicator, type Scrape } from "../lib/health";
import { parseMetrics, type Sample } from "../lib/prometheus";
import { useInterval, useLatest } from "../hooks";

const REFRESH_MS = 5_000;
/** The series is per minute: reading it more often shows nothing new. */
const SERIES_REFRESH_MS = 60_000;
const SERIES_HOURS = [1, 6, 24, 48] as const;

interface Reading {
  scrape: Scrape;
  components: ComponentStatus[];
  problems: string[];
}

function valueText(item: Indicator): string {
  switch (item.unit) {
    case "ratio":
      return formatPercent(item.value);
    case "seconds":
      return item.value === null ? "—" : formatDuration(item.value * 1000);
    case "per-second":
      return item.value === null ? "—" : `${formatNumber(item.value, 1)}/s`;
    default:
      return formatNumber(item.value);
  }
}

const GRADE_TEXT = { green: "meets its objective", amber: "below objective", red: "past its alert threshold", none: "no objective or no data" };

async function metrics(service: string, url: string, problems: string[]): Promise<Sample[] | null> {
  try {
    return parseMetrics(await requestText(service, url));
  } catch (error) {
    problems.push((error as Error).message);
    return null;
  }
}

async function read(config: Config, candystore: CandystoreClient): Promise<Reading> {
  const problems: string[] = [];
  const { gateway, candystore: store, visibility } = config.apis;
  const [gatewayMetrics, storeMetrics, stats, gatewayReady, storeReady, visibilityReady] = await Promise.all([
    metrics("Bloodbank gateway", `${gateway}/metrics`, problems),
    metrics("Candystore", `${store}/metrics`, problems),
    candystore.stats().catch((error: Error) => {
      problems.push(error.message);
      return null;
    }),
    probe(`${gateway}/health/ready`),
    probe(`${store}/health/ready`),
    probe(`${visibility}/health/ready`),
  ]);
  return {
    scrape: {
      at: Date.now(),
      gateway: gatewayMetrics,
      candystore: storeMetrics,
      deadLettersOpen: stats?.dead_letters.open ?? null,
      storedPerSecond: stats?.rates.last_minute ?? null,
    },
    components: [
      componentStatus("Bloodbank gateway", gatewayReady),
      componentStatus("Candystore", storeReady),
      componentStatus("Visibility", visibilityReady, { optional: true }),
      { name: "Candybar", grade: "green", text: "serving this page" },
    ],
    problems,
  };
}

function OverTime(props: { candystore: CandystoreClient }): JSX.Element {
  const [hours, setHours] = useState<number>(6);
  const series = useLatest(() => props.candystore.statsSeries(hours), [hours]);
  useInterval(series.reload, SERIES_REFRESH_MS);
  const charts = useMemo(() => (series.data ? seriesCharts(series.data) : []), [series.data]);
  return (
    <section class="over-time" aria-labelledby="over-time-title">
      <div class="toolbar">
        <h2 id="over-time-title">Over time</h2>
        <label>
          Last{" "}
          <select name="series-hours" value={hours} onChange={(event) => setHours(Number((event.currentTarget as HTMLSelectElement).value))}>
            {SERIES_HOURS.map((value) => (
              <option key={value} value={value}>
                {value} hour{value === 1 ? "" : "s"}
              </option>
            ))}
          </select>
        </label>
        <span class="muted">Per minute, from Candystore's database (every replica's events); dashed lines are the objective and the alert threshold.</span>
      </div>
      {series.error && series.data === undefined ? (
        <Failure error={series.error} retry={series.reload} what="the statistics over time" />
      ) : series.data === undefined ? (
        <Loading what="the statistics over time" />
      ) : (
        <div class="charts">
          {charts.map((chart) => (
            <TimeChart key={chart.key} chart={chart} />
          ))}
        </div>
      )}
    </section>
  );
}

export function HealthPage(props: { config: Config; candystore: CandystoreClient }): JSX.Element {
  const [reading, setReading] = useState<Reading | null>(null);
  const previous = useRef<Scrape | null>(null);
  const [shown, setShown] = useState<Indicator[]>([]);
  const refresh = useCallback(() => {
    void read(props.config, props.candystore).then((next) => {
      setShown(indicators(next.scrape, previous.current));
      previous.current = next.scrape;
      setReading(next);
    });
  }, [props.config, props.candystore]);
  useEffect(refresh, [refresh]);
  useInterval(refresh, REFRESH_MS);
  return (
    <section class="page health">
      <div class="toolbar">
        <h1>Health</h1>
        <span class="muted">Refreshed every {REFRESH_MS / 1000} s from the components' /metrics, /health/ready and Candystore's /stats.</span>
      </div>
      {reading === null ? (
        <Loading what="the components' metrics" />
      ) : (
        <>
          {reading.problems.length > 0 ? (
            <div class="issues" role="alert">
              <strong>Some sources did not answer; their indicators show no data.</strong>
              <ul>
                {reading.problems.map((problem) => (
                  <li key={problem}>{problem}</li>
                ))}
              </ul>
            </div>
          ) : null}
          <div class="indicators">
            {shown.map((item) => (
              <div key={item.key} class={`indicator ${item.grade}`} data-indicator={item.key} data-grade={item.grade}>
                <h2>{item.label}</h2>
                <p class="value">{valueText(item)}</p>
                <p class="objective">{item.objective ? `Objective ${item.objective}` : "No objective"}</p>
                <p class="note" title={GRADE_TEXT[item.grade]}>
                  {item.note}
                </p>
              </div>
            ))}
          </div>
          <OverTime candystore={props.candystore} />
          <h2>Components</h2>
          <table class="grid components">
            <tbody>
              {reading.components.map((component) => (
                <tr key={component.name} data-component={component.name} data-grade={component.grade}>
                  <td>
                    <span class={`dot ${component.grade}`} aria-hidden="true" /> {component.name}
                  </td>
                  <td>{component.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
