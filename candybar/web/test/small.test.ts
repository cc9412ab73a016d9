import { describe, expect, it } from "vitest";

import { problemsOf, urlOf } from "../src/api/http";
import { formatDuration, formatPercent, formatTimestamp } from "../src/lib/format";
import { RateCounter, sparklinePath } from "../src/lib/rate";
import { visibleWindow } from "../src/lib/virtual";

describe("the virtualised list's window", () => {
  it("renders only the rows in view plus a margin", () => {
    const view = visibleWindow({ count: 10_000, rowHeight: 34, scrollTop: 34 * 5000, viewportHeight: 680, overscan: 5 });
    expect(view).toEqual({ start: 4995, end: 5025, offset: 4995 * 34, total: 340_000 });
  });

  it("clamps at both ends and copes with an empty list", () => {
    expect(visibleWindow({ count: 3, rowHeight: 34, scrollTop: 9999, viewportHeight: 680 })).toMatchObject({ start: 0, end: 3 });
    expect(visibleWindow({ count: 0, rowHeight: 34, scrollTop: 0, viewportHeight: 680 })).toEqual({ start: 0, end: 0, offset: 0, total: 0 });
  });
});

describe("the rate sparkline", () => {
  it("counts events per second over the last minute, forgetting older seconds", () => {
    const rate = new RateCounter(5);
    rate.record(1_000, 2);
    rate.record(1_500);
    rate.record(3_200);
    expect(rate.series(3_900)).toEqual([0, 0, 3, 0, 1]);
    expect(rate.series(7_000)).toEqual([1, 0, 0, 0, 0]);
    rate.record(100); // older than the window: ignored
    expect(rate.series(60_000)).toEqual([0, 0, 0, 0, 0]);
  });

  it("draws a path in its box", () => {
    expect(sparklinePath([0, 2, 1], 100, 10)).toBe("M0.0,10.0 L50.0,0.0 L100.0,5.0");
    expect(sparklinePath([], 100, 10)).toBe("");
  });
});

describe("formats", () => {
  it("says durations the way people read them", () => {
    expect(formatDuration(120)).toBe("120 ms");
    expect(formatDuration(1500)).toBe("1.50 s");
    expect(formatDuration(-250)).toBe("−250 ms");
    expect(formatDuration(200_000)).toBe("3 min 20 s");
    expect(formatPercent(0.99912)).toBe("99.91%");
    expect(formatTimestamp("2026-11-02T14:05:12.331-05:00")).toBe("2026-11-02 19:05:12.331");
    expect(formatTimestamp("yesterday")).toBe("yesterday");
  });
});

describe("API errors", () => {
  it("reads the platform's error shape, and says the status when there is none", () => {
    expect(problemsOf(422, { errors: [{ path: "query.limit", message: "too big" }] })).toEqual([{ path: "query.limit", message: "too big" }]);
    expect(problemsOf(502, "<html>bad gateway</html>")).toEqual([{ path: null, message: "answered HTTP 502" }]);
  });

  it("builds URLs from a base, an encoded path and the non-empty parameters", () => {
    expect(urlOf("http://h:1/base/", "/events", { event_type: "retail.#", cursor: "", limit: 5 })).toBe(
      "http://h:1/base/events?event_type=retail.%23&limit=5",
    );
  });
});
