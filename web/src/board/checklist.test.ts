import { describe, expect, it } from "vitest";
import type { ActivityEntry, ChecklistItem } from "../api/types";
import { makeMember } from "../test/factories";
import {
  activityKey,
  describeChange,
  mergeActivity,
  movedPosition,
  progressLabel,
  progressOf,
} from "./checklist";

const item = (id: string, position: number, done = false, text = id): ChecklistItem => ({ id, text, done, position });

describe("progress", () => {
  it("counts done items", () => {
    const p = progressOf([item("a", 1, true), item("b", 2), item("c", 3, true)]);
    expect(p).toEqual({ done: 2, total: 3 });
    expect(progressLabel(p)).toBe("Checklist: 2 of 3 done");
    expect(progressOf(undefined)).toEqual({ done: 0, total: 0 });
  });
});

describe("movedPosition", () => {
  const items = [item("a", 1024), item("b", 2048), item("c", 3072)];
  it("lands between the new neighbours", () => {
    expect(movedPosition(items, 2, -1)).toBe(1536); // c between a and b
    expect(movedPosition(items, 0, 1)).toBe(2560); // a between b and c
  });
  it("goes past the ends", () => {
    expect(movedPosition(items, 1, -1)).toBe(0); // b before a
    expect(movedPosition(items, 1, 1)).toBe(4096); // b after c
  });
  it("refuses moves off the list", () => {
    expect(movedPosition(items, 0, -1)).toBeNull();
    expect(movedPosition(items, 2, 1)).toBeNull();
    expect(movedPosition([], 0, 1)).toBeNull();
  });
  it("orders the list as asked once applied", () => {
    const moved = movedPosition(items, 2, -1)!;
    const after = items.map((i) => (i.id === "c" ? { ...i, position: moved } : i)).sort((x, y) => x.position - y.position);
    expect(after.map((i) => i.id)).toEqual(["a", "c", "b"]);
  });
});

describe("activity", () => {
  const entry = (seq: number): ActivityEntry => ({
    seq,
    at: "2026-01-01T00:00:00.000Z",
    type: "task:updated",
    actor: { user_id: "u", name: "U" },
    changes: [],
  });
  it("merges pages newest first without repeats", () => {
    const merged = mergeActivity([entry(9), entry(7)], [entry(8), entry(7), entry(3)]);
    expect(merged.map((e) => e.seq)).toEqual([9, 8, 7, 3]);
  });
  it("describes changes", () => {
    const ann = makeMember({ user_id: "ann", name: "Ann" });
    const a = item("a", 1, false, "Write tests");
    expect(describeChange({ field: "checklist", before: a, after: { ...a, done: true } }, [])).toBe("ticked “Write tests”");
    expect(describeChange({ field: "checklist", before: null, after: a }, [])).toBe("added “Write tests” to the checklist");
    expect(describeChange({ field: "checklist", before: a, after: null }, [])).toBe("removed “Write tests” from the checklist");
    expect(describeChange({ field: "checklist", before: a, after: { ...a, text: "X" } }, [])).toBe("renamed “Write tests” to “X”");
    expect(describeChange({ field: "status", before: "todo", after: "done" }, [])).toBe("status: To do → Done");
    expect(describeChange({ field: "assignee_id", before: null, after: "ann" }, [ann])).toBe("assignee: Ann");
    expect(describeChange({ field: "comment", before: null, after: { id: "c", body: "hi" } }, [])).toBe("commented: hi");
    expect(describeChange({ field: "comment", before: { id: "c" }, after: null }, [])).toBe("deleted a comment");
    expect(describeChange({ field: "tags", before: ["a"], after: [] }, [])).toBe("tags: a → nothing");
  });
  it("keys on what an event of the task changes", () => {
    const k = activityKey(3, [{ id: "c1" }], undefined);
    expect(activityKey(4, [{ id: "c1" }], undefined)).not.toBe(k);
    expect(activityKey(3, [{ id: "c2" }], undefined)).not.toBe(k);
    expect(activityKey(3, [{ id: "c1" }], undefined)).toBe(k);
  });
});
