import { describe, expect, it } from "vitest";

import { BULK_ACTIONS, bulkProblem, bulkSummary, MAX_BULK, type BulkActionAnswer } from "../src/lib/conflicts";

describe("acting on many conflicts", () => {
  it("offers acknowledge, accept and dispute", () => {
    expect([...BULK_ACTIONS]).toEqual(["acknowledge", "accept", "dispute"]);
  });

  it("asks for a selection within the API's bound, and a reason to accept or dispute", () => {
    expect(bulkProblem("acknowledge", 0, "")).toBe("select at least one conflict");
    expect(bulkProblem("acknowledge", MAX_BULK + 1, "")).toBe(`select at most ${MAX_BULK} conflicts at once`);
    expect(bulkProblem("acknowledge", 3, "")).toBeNull();
    expect(bulkProblem("accept", 3, " ")).toContain("a reason is required to accept");
    expect(bulkProblem("dispute", 3, "")).toContain("a reason is required to dispute");
    expect(bulkProblem("dispute", MAX_BULK, "duplicate feed")).toBeNull();
  });

  it("sums up what happened in one line", () => {
    const answer: BulkActionAnswer = {
      action: "accept",
      applied: 2,
      results: [
        { conflict_id: "a", outcome: "applied", status: "accepted", message: null },
        { conflict_id: "b", outcome: "applied", status: "accepted", message: null },
        { conflict_id: "c", outcome: "refused", status: "open", message: "acknowledge it first" },
        { conflict_id: "d", outcome: "not_found", status: null, message: "no conflict d" },
      ],
    };
    expect(bulkSummary(answer)).toBe("2 accepted, 1 refused, 1 not found");
    expect(bulkSummary({ ...answer, applied: 2, results: answer.results.slice(0, 2) })).toBe("2 accepted");
  });
});
