import { describe, expect, it } from "vitest";

import type { TrendHour } from "../src/lib/conflicts";
import { bars, overallRate, rateBuckets, rateText } from "../src/lib/trend";

function hour(at: string, events_checked: number, conflicting_events: number, conflicts_opened: number): TrendHour {
  const conflict_rate = events_checked === 0 ? null : Math.round((conflicting_events / events_checked) * 100_000) / 1000;
  return { hour: at, events_checked, conflicting_events, conflicts_opened, conflict_rate };
}

describe("the conflict rate trend", () => {
  const items = [
    hour("2026-11-02T17:00:00Z", 0, 0, 0),
    hour("2026-11-02T18:00:00Z", 40, 1, 0),
    hour("2026-11-02T19:00:00Z", 8, 3, 2),
  ];

  it("makes one bar per hour, oldest first, as tall as its rate, labelled with the conflicts opened", () => {
    const buckets = rateBuckets(items);
    expect(buckets.map((bucket) => new Date(bucket.start).toISOString())).toEqual([
      "2026-11-02T17:00:00.000Z",
      "2026-11-02T18:00:00.000Z",
      "2026-11-02T19:00:00.000Z",
    ]);
    expect(buckets.map((bucket) => bucket.value)).toEqual([0, 2.5, 37.5]);
    expect(buckets.map((bucket) => bucket.label)).toEqual([undefined, undefined, "2"]);
  });

  it("says the rate, what it is out of, and the conflicts opened in the tooltip", () => {
    const [empty, calm, busy] = rateBuckets(items).map((bucket) => bucket.text);
    expect(empty).toBe("no retail event checked");
    expect(calm).toBe("2.50 % in conflict (1 of 40 events checked), 0 conflicts opened");
    expect(busy).toBe("37.50 % in conflict (3 of 8 events checked), 2 conflicts opened");
  });

  it("leaves out an hour that is no time", () => {
    expect(rateBuckets([hour("yesterday", 1, 0, 0), ...items])).toHaveLength(3);
  });

  it("weighs the day's rate by the events of each hour, not by the hours", () => {
    expect(overallRate(items)).toBeCloseTo((4 / 48) * 100);
    expect(overallRate([items[0] as TrendHour])).toBeNull();
    expect(rateText(null)).toBe("—");
    expect(rateText(8.3333)).toBe("8.33 %");
  });

  it("draws a bar per value, the highest filling the box, a small value still visible", () => {
    const shapes = bars([0, 100, 50, 0.1], 40, 20, 2);
    expect(shapes.map((shape) => [shape.x, shape.width])).toEqual([
      [1, 8],
      [11, 8],
      [21, 8],
      [31, 8],
    ]);
    expect(shapes.map((shape) => [shape.y, shape.height])).toEqual([
      [20, 0],
      [0, 20],
      [10, 10],
      [19, 1],
    ]);
    expect(bars([0.5], 40, 20).map((shape) => shape.height)).toEqual([10]);
    expect(bars([], 40, 20)).toEqual([]);
  });
});
