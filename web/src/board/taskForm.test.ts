import { describe, expect, it } from "vitest";
import { makeTask } from "../test/factories";
import { changedFields, changesFrom, dateInputValue, formFieldOf, formFromTask, mergeMine, parseTags } from "./taskForm";

describe("task form", () => {
  const base = makeTask({ title: "Write", tags: ["a", "b"], due_date: "2026-03-01T00:00:00Z", assignee_id: "u1" });

  it("turns a task into input values", () => {
    expect(formFromTask(base)).toMatchObject({ title: "Write", tags: "a, b", due: "2026-03-01", assignee: "u1" });
    expect(formFromTask(makeTask()).due).toBe("");
  });

  it("reads due dates as UTC calendar dates", () => {
    expect(dateInputValue("2026-03-01T23:30:00Z")).toBe("2026-03-01");
    expect(dateInputValue("2026-03-01T23:30:00-02:00")).toBe("2026-03-02");
    expect(dateInputValue("2026-03-01")).toBe("2026-03-01");
    expect(dateInputValue(null)).toBe("");
  });

  it("parses tags: trimmed, no empties, no duplicates", () => {
    expect(parseTags(" a, b ,,a, c ")).toEqual(["a", "b", "c"]);
  });

  it("sends only what changed", () => {
    const form = { ...formFromTask(base), title: " Write more ", tags: "a,b" };
    expect(changesFrom(base, form)).toEqual({ title: "Write more" });
  });

  it("clears due date and assignee with null", () => {
    const form = { ...formFromTask(base), due: "", assignee: "" };
    expect(changesFrom(base, form)).toEqual({ due_date: null, assignee_id: null });
  });

  it("maps every field", () => {
    const form = { title: "T", description: "D", column: "review", priority: "urgent" as const, due: "2026-04-02", assignee: "u2", tags: "x" };
    expect(changesFrom(base, form)).toEqual({
      title: "T", description: "D", column_id: "review", priority: "urgent", due_date: "2026-04-02", assignee_id: "u2", tags: ["x"],
    });
    expect(changedFields(formFromTask(base), formFromTask(base))).toEqual([]);
  });

  it("maps API field names to form fields", () => {
    expect(formFieldOf("due_date")).toBe("due");
    expect(formFieldOf("assignee_id")).toBe("assignee");
    expect(formFieldOf("version")).toBeNull();
  });

  it("keep mine: my changed fields over their version, their other changes kept", () => {
    const theirs = { ...base, description: "their text", priority: "high" as const, version: 2 };
    const mine = { ...formFromTask(base), priority: "low" as const };
    const merged = mergeMine(theirs, base, mine);
    expect(merged.description).toBe("their text");
    expect(merged.priority).toBe("low");
    expect(changesFrom(theirs, merged)).toEqual({ priority: "low" });
  });
});

describe("the column field", () => {
  it("is the task's column id, sent as column_id; a 422 on status or column_id lands on it", () => {
    const task = makeTask({ id: "t", status: "in_progress", column_id: "review" });
    expect(formFromTask(task).column).toBe("review");
    expect(changesFrom(task, { ...formFromTask(task), column: "done" })).toEqual({ column_id: "done" });
    expect(formFieldOf("column_id")).toBe("column");
    expect(formFieldOf("status")).toBe("column");
  });
});
