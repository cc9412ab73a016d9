import { describe, expect, it } from "vitest";

import { actionProblem, availableActions, statusFilterOf, type Okr } from "../src/lib/conflicts";
import { counted, objectiveText, okrTiles, periodText } from "../src/lib/okr";

describe("acting on a conflict", () => {
  it("allows acknowledging an open conflict, then fixing, accepting or disputing it", () => {
    expect(availableActions("open")).toEqual(["acknowledge"]);
    expect(availableActions("acknowledged")).toEqual(["fix", "accept", "dispute"]);
    for (const status of ["fixed", "accepted", "disputed"] as const) expect(availableActions(status)).toEqual([]);
  });

  it("says why an action does not apply, as the lifecycle would", () => {
    expect(actionProblem("open", "fix", "")).toBe("acknowledge it before you fix it");
    expect(actionProblem("acknowledged", "acknowledge", "")).toBe("already acknowledged: fix, accept or dispute it");
    expect(actionProblem("accepted", "fix", "")).toBe("already resolved (accepted)");
    expect(actionProblem("open", "acknowledge", "")).toBeNull();
    expect(actionProblem("acknowledged", "fix", "")).toBeNull();
  });

  it("requires a reason to accept or dispute, and a blank one is none", () => {
    expect(actionProblem("acknowledged", "accept", "  ")).toBe("a reason is required to accept: say why the difference is acceptable");
    expect(actionProblem("acknowledged", "dispute", "")).toBe("a reason is required to dispute: say why it is a false positive");
    expect(actionProblem("acknowledged", "accept", "clearance price agreed")).toBeNull();
    expect(actionProblem("open", "accept", "")).toContain("a reason is required");
  });
});

describe("the status tabs", () => {
  it("reads a status filter from an address, falling back to the unresolved ones", () => {
    expect(statusFilterOf("escalated")).toBe("escalated");
    expect(statusFilterOf("")).toBe("");
    expect(statusFilterOf(null)).toBe("unresolved");
    expect(statusFilterOf("bogus")).toBe("unresolved");
  });
});

describe("the OKR tiles", () => {
  const okr: Okr = {
    period: { since: "2026-10-26T19:00:00Z", until: "2026-11-02T19:00:00Z" },
    conflict_rate_percent: 3.125,
    time_to_detect_mean_seconds: 0.42,
    time_to_detect_p95_seconds: 1.5,
    resolution_rate_24h_percent: null,
    customer_impact_incidents_7d: 4,
    disputed_share_percent: 50,
    events: 64,
    conflicting_events: 2,
    conflicts_opened: 2,
    resolutions_due: 0,
    unresolved: 1,
    escalated: 0,
    unverifiable: {},
    targets: {
      conflict_rate_percent: { target: "< 2", met: false },
      time_to_detect_mean_seconds: { target: "< 300", met: true },
      resolution_rate_24h_percent: { target: "> 90", met: null },
      customer_impact_incidents_7d: { target: "< 10", met: true },
    },
  };

  it("shows each figure in its unit, graded by its target", () => {
    const tiles = Object.fromEntries(okrTiles(okr).map((tile) => [tile.key, tile]));
    expect(Object.keys(tiles)).toHaveLength(6);
    expect(tiles.conflict_rate_percent).toMatchObject({ value: "3.13 %", grade: "red", objective: "below 2 %" });
    expect(tiles.time_to_detect_mean_seconds).toMatchObject({ value: "420 ms", grade: "green", objective: "below 5 min" });
    expect(tiles.time_to_detect_p95_seconds).toMatchObject({ value: "1.50 s", grade: "none", objective: null });
    expect(tiles.resolution_rate_24h_percent).toMatchObject({ value: "nothing due yet", empty: true, grade: "none", objective: "above 90 %" });
    expect(tiles.customer_impact_incidents_7d).toMatchObject({ value: "4", grade: "green", objective: "below 10" });
    expect(tiles.disputed_share_percent).toMatchObject({ value: "50.00 %", empty: false, grade: "none" });
  });

  it("says what is missing instead of a figure when there is nothing to measure yet", () => {
    const nothing = { ...okr, conflict_rate_percent: null, time_to_detect_mean_seconds: null, disputed_share_percent: null };
    const values = Object.fromEntries(okrTiles(nothing).map((tile) => [tile.key, tile.value]));
    expect(values).toMatchObject({
      conflict_rate_percent: "no events yet",
      time_to_detect_mean_seconds: "no conflict yet",
      resolution_rate_24h_percent: "nothing due yet",
      disputed_share_percent: "nothing resolved yet",
    });
  });

  it("says the period and counts in words", () => {
    expect(periodText(okr)).toBe("the last 7 days");
    expect(periodText({ ...okr, period: { since: "2026-11-02T18:00:00Z", until: "2026-11-02T19:00:00Z" } })).toBe("the last hour");
    expect(periodText({ ...okr, period: { since: "2026-11-01T19:00:00Z", until: "2026-11-02T19:00:00Z" } })).toBe("the last 24 hours");
    expect(counted(1, "conflict")).toBe("1 conflict");
    expect(counted(1200, "retail event")).toBe("1,200 retail events");
  });

  it("shows a target it cannot read as it came", () => {
    expect(objectiveText("≤ 2 or so", "percent")).toBe("≤ 2 or so");
    expect(objectiveText("> 90.5", "percent")).toBe("above 90.50 %");
  });
});
