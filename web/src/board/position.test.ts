import { describe, expect, it } from "vitest";
import { makeTask } from "../test/factories";
import { columnsOf, moveAcross, moveWithinColumn, positionAt, positionBetween } from "./position";

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
  const cols = columnsOf([c, d, a, b]);

  it("groups by status and orders by position", () => {
    expect(cols.todo.map((t) => t.id)).toEqual(["a", "b", "c"]);
    expect(cols.in_progress.map((t) => t.id)).toEqual(["d"]);
    expect(cols.done).toEqual([]);
  });

  it("breaks position ties by creation time, then id", () => {
    const x = makeTask({ id: "x", position: 1, created_at: "2026-01-02T00:00:00Z" });
    const y = makeTask({ id: "y", position: 1, created_at: "2026-01-01T00:00:00Z" });
    expect(columnsOf([x, y]).todo.map((t) => t.id)).toEqual(["y", "x"]);
  });

  it("positionAt: dropping c at the top, in the middle, and at the end", () => {
    expect(positionAt(cols.todo, "c", 0)).toBeLessThan(10);
    const mid = positionAt(cols.todo, "c", 1);
    expect(mid).toBeGreaterThan(10);
    expect(mid).toBeLessThan(20);
    expect(positionAt(cols.in_progress, "a", 99)).toBeGreaterThan(5);
  });

  it("moveWithinColumn up/down and at the edges", () => {
    const up = moveWithinColumn(cols.todo, "b", -1);
    expect(up?.status).toBe("todo");
    expect(up!.position).toBeLessThan(10);
    const down = moveWithinColumn(cols.todo, "b", 1);
    expect(down!.position).toBeGreaterThan(30);
    expect(moveWithinColumn(cols.todo, "a", -1)).toBeNull();
    expect(moveWithinColumn(cols.todo, "c", 1)).toBeNull();
    expect(moveWithinColumn(cols.todo, "zz", 1)).toBeNull();
  });

  it("moveAcross goes to the end of the neighbouring column", () => {
    const right = moveAcross(cols, a, 1);
    expect(right).toEqual({ status: "in_progress", position: expect.any(Number) });
    expect(right!.position).toBeGreaterThan(5);
    expect(moveAcross(cols, a, -1)).toBeNull();
    expect(moveAcross(cols, makeTask({ status: "done" }), 1)).toBeNull();
  });
});
