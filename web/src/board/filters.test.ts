import { describe, expect, it } from "vitest";
import { makeTask } from "../test/factories";
import { isFiltering, matchesFilter, NO_FILTER } from "./filters";

describe("matchesFilter", () => {
  const task = makeTask({ title: "Fix Login", description: "oauth flow", tags: ["Backend"], assignee_id: "u1", priority: "high" });

  it("passes everything without a filter", () => {
    expect(isFiltering(NO_FILTER)).toBe(false);
    expect(matchesFilter(task, NO_FILTER)).toBe(true);
  });
  it("filters by assignee, including unassigned", () => {
    expect(matchesFilter(task, { ...NO_FILTER, assignee: "u1" })).toBe(true);
    expect(matchesFilter(task, { ...NO_FILTER, assignee: "u2" })).toBe(false);
    expect(matchesFilter(task, { ...NO_FILTER, assignee: "unassigned" })).toBe(false);
    expect(matchesFilter(makeTask(), { ...NO_FILTER, assignee: "unassigned" })).toBe(true);
  });
  it("filters by priority", () => {
    expect(matchesFilter(task, { ...NO_FILTER, priority: "high" })).toBe(true);
    expect(matchesFilter(task, { ...NO_FILTER, priority: "low" })).toBe(false);
  });
  it("matches text in title, description or tags, ignoring case", () => {
    for (const text of ["login", "OAUTH", "backend", "  fix "]) {
      expect(matchesFilter(task, { ...NO_FILTER, text })).toBe(true);
    }
    expect(matchesFilter(task, { ...NO_FILTER, text: "nothing" })).toBe(false);
    expect(isFiltering({ ...NO_FILTER, text: "x" })).toBe(true);
  });
});
