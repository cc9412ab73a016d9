import { describe, expect, it } from "vitest";

import type { ConsumerQueue, ReplayProgress } from "../src/api/operations";
import { formatDelay, formatRate, queueHealth } from "../src/lib/consumers";
import { formProblemsOf, localToRfc3339, progressRatio, progressText, replayFiltersOf } from "../src/lib/replay";
import { parseRoute, routeHref } from "../src/router";

const QUEUE: ConsumerQueue = {
  name: "pricing.checker",
  ready: 0,
  unacked: 0,
  consumers: 1,
  publish_rate: null,
  deliver_rate: null,
  ack_rate: null,
  retry_tiers: [{ delay_seconds: 1, queue: "pricing.checker.retry.1s", messages: 0 }],
  dead_letters: [],
  dead_letters_open: 0,
};

const PROGRESS: ReplayProgress = {
  replay_id: "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
  state: "running",
  done: false,
  actor: "ops",
  matched: 10,
  published: 4,
  invalid: 1,
  failed: 0,
  error: null,
  started_at: "2026-12-06T05:00:00Z",
  finished_at: null,
};

describe("the operations pages' addresses", () => {
  it("read and write /consumers and /replay with the replay followed", () => {
    expect(parseRoute("/consumers", "")).toEqual({ page: "consumers" });
    expect(parseRoute("/replay", "")).toEqual({ page: "replay", id: null });
    expect(parseRoute("/replay", `?id=${PROGRESS.replay_id}`)).toEqual({ page: "replay", id: PROGRESS.replay_id });
    expect(routeHref({ page: "replay", id: PROGRESS.replay_id })).toBe(`/replay?id=${PROGRESS.replay_id}`);
    expect(routeHref({ page: "consumers" })).toBe("/consumers");
    expect(parseRoute("/consumers/x", "").page).toBe("not-found");
  });
});

describe("the replay form", () => {
  it("needs a start, and an end after it", () => {
    expect(replayFiltersOf({ since: "", until: "", eventType: "", sourceApp: "" }).problems).toEqual([
      { field: "since", message: "Give the start of the time range." },
    ]);
    const backwards = replayFiltersOf({ since: "2026-12-06T10:00", until: "2026-12-06T09:00", eventType: "", sourceApp: "" });
    expect(backwards.problems.map((problem) => problem.field)).toEqual(["until"]);
  });

  it("sends times as RFC 3339 in UTC and leaves out what is empty", () => {
    const { filters, problems } = replayFiltersOf({ since: "2026-12-06T10:00", until: "", eventType: " retail.# ", sourceApp: "" });
    expect(problems).toEqual([]);
    expect(filters).toEqual({ since: localToRfc3339("2026-12-06T10:00"), event_type: "retail.#" });
    expect(filters.since).toMatch(/^2026-12-0\dT\d\d:00:00\.000Z$/);
  });
});

describe("Candystore's answer to a bad filter", () => {
  it("lands on the field it names", () => {
    const problems = [
      { path: "query.event_type", message: "not a valid event-type pattern" },
      { path: "$.actor", message: "leave it out" },
      { path: null, message: "unavailable" },
    ];
    expect(formProblemsOf(problems)).toEqual([{ field: "eventType", message: "not a valid event-type pattern" }]);
  });
});

describe("a replay's progress", () => {
  it("counts what was handled against what matched", () => {
    expect(progressRatio(PROGRESS)).toBe(0.5);
    expect(progressText(PROGRESS)).toBe("Replaying: 5 of 10 handled, 4 republished (1 no longer valid).");
    const done = { ...PROGRESS, state: "done" as const, done: true, published: 9 };
    expect(progressRatio(done)).toBe(1);
    expect(progressText(done)).toBe("Done: 9 of 10 republished (1 no longer valid).");
    const failed = { ...PROGRESS, state: "failed" as const, done: true, error: "the bus is unavailable", invalid: 0 };
    expect(progressText(failed)).toBe("Stopped after 4 of 10: the bus is unavailable.");
  });
});

describe("the consumer queues in words", () => {
  it("says rates, delays and what needs a look", () => {
    expect(formatRate(null)).toBe("—");
    expect(formatRate(2.345)).toBe("2.3/s");
    expect(formatRate(120.4)).toBe("120/s");
    expect(formatDelay(1)).toBe("1 s");
    expect(formatDelay(600)).toBe("10 min");
    expect(formatDelay(21600)).toBe("6 h");
    expect(queueHealth(QUEUE)).toBe("ok");
    expect(queueHealth({ ...QUEUE, ready: 3 })).toBe("busy");
    expect(queueHealth({ ...QUEUE, consumers: 0 })).toBe("idle");
    expect(queueHealth({ ...QUEUE, dead_letters_open: 2 })).toBe("failing");
  });
});
