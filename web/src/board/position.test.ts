import { describe, expect, it } from "vitest";
import type { BoardColumn } from "../api/types";
import { DEFAULT_BOARD_COLUMNS, makeTask } from "../test/factories";
import { columnsOf, layoutOf, moveAcross, moveWithinColumn, positionAt, positionBetween, wipOf } from "./position";

const layout = layoutOf(DEFAULT_BOARD_COLUMNS);
const todo = DEFAULT_BOARD_COLUMNS[0]!;

describe("positionBetween", () => {
  it("is strictly between two neighbours", () => {
    const p = positionBetween(1, 2);
    expect(p).toBeGreaterThan(1);
    expect(p).toBeLessThan(2);
  });
  it("goes above the first and below the last", () => {
    expect(positionBetween(undefined, 5)).toBeLessThan(5);
    expect(positionBetween(5, undefined)).toBeGreaterThan(5);
    expect(positionBetween(undefined, undefined)).toBeTypeOf("number");
  });
  it("handles negative positions", () => {
    const p = positionBetween(-3, -1);
    expect(p).toBeGreaterThan(-3);
    expect(p).toBeLessThan(-1);
  });
});

describe("columns and moves", () => {
  const a = makeTask({ id: "a", status: "todo", position: 10 });
  const b = makeTask({ id: "b", status: "todo", position: 20 });
  const c = makeTask({ id: "c", status: "todo", position: 30 });
  const d = makeTask({ id: "d", status: "in_progress", position: 5 });
  const cols = columnsOf([c, d, a, b], layout);

  it("groups by status and orders by position", () => {
    expect(cols.todo!.map((t) => t.id)).toEqual(["a", "b", "c"]);
    expect(cols.in_progress!.map((t) => t.id)).toEqual(["d"]);
    expect(cols.done).toEqual([]);
  });

  it("breaks position ties by creation time, then id", () => {
    const x = makeTask({ id: "x", position: 1, created_at: "2026-01-02T00:00:00Z" });
    const y = makeTask({ id: "y", position: 1, created_at: "2026-01-01T00:00:00Z" });
    expect(columnsOf([x, y], layout).todo!.map((t) => t.id)).toEqual(["y", "x"]);
  });

  it("positionAt: dropping c at the top, in the middle, and at the end", () => {
    expect(positionAt(cols.todo!, "c", 0)).toBeLessThan(10);
    const mid = positionAt(cols.todo!, "c", 1);
    expect(mid).toBeGreaterThan(10);
    expect(mid).toBeLessThan(20);
    expect(positionAt(cols.in_progress!, "a", 99)).toBeGreaterThan(5);
  });

  it("moveWithinColumn up/down and at the edges", () => {
    const up = moveWithinColumn(todo, cols.todo!, "b", -1);
    expect(up?.column.id).toBe("todo");
    expect(up!.position).toBeLessThan(10);
    const down = moveWithinColumn(todo, cols.todo!, "b", 1);
    expect(down!.position).toBeGreaterThan(30);
    expect(moveWithinColumn(todo, cols.todo!, "a", -1)).toBeNull();
    expect(moveWithinColumn(todo, cols.todo!, "c", 1)).toBeNull();
    expect(moveWithinColumn(todo, cols.todo!, "zz", 1)).toBeNull();
  });

  it("moveAcross goes to the end of the neighbouring column", () => {
    const right = moveAcross(cols, layout, a, 1);
    expect(right).toEqual({ column: DEFAULT_BOARD_COLUMNS[1], position: expect.any(Number) });
    expect(right!.position).toBeGreaterThan(5);
    expect(moveAcross(cols, layout, a, -1)).toBeNull();
    expect(moveAcross(cols, layout, makeTask({ status: "done" }), 1)).toBeNull();
  });
});

describe("a board's own columns", () => {
  const review: BoardColumn = { id: "review", name: "Review", category: "in_progress", wip_limit: 2 };
  const own = layoutOf([DEFAULT_BOARD_COLUMNS[0]!, DEFAULT_BOARD_COLUMNS[1]!, review, DEFAULT_BOARD_COLUMNS[2]!]);

  it("groups by column id, in the board's order, several columns per category", () => {
    const x = makeTask({ id: "x", status: "in_progress", column_id: "review" });
    const y = makeTask({ id: "y", status: "in_progress" });
    const cols = columnsOf([x, y], own);
    expect(Object.keys(cols)).toEqual(["todo", "in_progress", "review", "done"]);
    expect(cols.review!.map((t) => t.id)).toEqual(["x"]);
    expect(cols.in_progress!.map((t) => t.id)).toEqual(["y"]);
  });

  it("shows a task whose column is unknown (events in flight) in the first column of its status", () => {
    const lost = makeTask({ id: "lost", status: "done", column_id: "gone" });
    expect(own.place(lost)).toBe("done");
    expect(columnsOf([lost], own).done!.map((t) => t.id)).toEqual(["lost"]);
  });

  it("moves across into the next column, whatever its category", () => {
    const y = makeTask({ id: "y", status: "in_progress" });
    expect(moveAcross(columnsOf([y], own), own, y, 1)?.column).toBe(review);
  });

  it("marks a full column and one over its limit", () => {
    expect(wipOf(review, 1)).toEqual({ text: "1 / 2", full: false, over: false });
    expect(wipOf(review, 2)).toEqual({ text: "2 / 2", full: true, over: false });
    expect(wipOf(review, 3)).toEqual({ text: "3 / 2", full: true, over: true });
    expect(wipOf(DEFAULT_BOARD_COLUMNS[0]!, 7)).toEqual({ text: "7", full: false, over: false });
  });
});
