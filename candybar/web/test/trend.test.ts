import { describe, expect, it } from "vitest";

import { bars, hourlyCounts, HOUR_MS } from "../src/lib/trend";

describe("the conflicts' hourly trend", () => {
  const now = Date.parse("2026-11-02T19:40:00Z");

  it("counts detections per clock hour, oldest first, the running hour last", () => {
    const buckets = hourlyCounts(
      ["2026-11-02T19:05:00Z", "2026-11-02T19:39:59Z", "2026-11-02T18:59:59.999Z", "2026-11-02T17:00:00Z", "2026-11-02T14:05:12-05:00"],
      now,
      3,
    );
    expect(buckets.map((bucket) => new Date(bucket.start).toISOString())).toEqual([
      "2026-11-02T17:00:00.000Z",
      "2026-11-02T18:00:00.000Z",
      "2026-11-02T19:00:00.000Z",
    ]);
    expect(buckets.map((bucket) => bucket.count)).toEqual([1, 1, 3]);
  });

  it("leaves out what is older than the span, later than the running hour, or no time", () => {
    const buckets = hourlyCounts(["2026-11-02T16:59:59Z", "2026-11-02T20:00:00Z", "yesterday"], now, 3);
    expect(buckets.map((bucket) => bucket.count)).toEqual([0, 0, 0]);
    expect(hourlyCounts([], now)).toHaveLength(24);
    expect(hourlyCounts([], now).at(-1)?.start).toBe(Math.floor(now / HOUR_MS) * HOUR_MS);
  });

  it("draws a bar per hour, the highest filling the box, a small count still visible", () => {
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
    expect(bars([], 40, 20)).toEqual([]);
  });
});
