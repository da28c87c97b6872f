import { describe, expect, it } from "vitest";
import type { Task } from "../api/types";
import { DEFAULT_BOARD_COLUMNS, makeTask } from "../test/factories";
import { countOf, filterColumns, updateColumns } from "./columns";
import { NO_FILTER } from "./filters";
import { columnsOf, layoutOf } from "./position";

const layout = layoutOf(DEFAULT_BOARD_COLUMNS);

const byId = (tasks: Task[]) => Object.fromEntries(tasks.map((t) => [t.id, t]));
const ids = (list: readonly Task[] | undefined) => (list ?? []).map((t) => t.id);

describe("updateColumns", () => {
  const a = makeTask({ id: "a", status: "todo", position: 10 });
  const b = makeTask({ id: "b", status: "todo", position: 20 });
  const c = makeTask({ id: "c", status: "in_progress", position: 5 });
  const tasks = byId([a, b, c]);
  const columns = updateColumns(null, tasks, layout);

  it("groups and orders from scratch", () => {
    expect(ids(columns.todo)).toEqual(["a", "b"]);
    expect(ids(columns.in_progress)).toEqual(["c"]);
  });

  it("patches only the columns a change touches, and agrees with a full regroup", () => {
    const moved = { ...b, status: "in_progress" as const, column_id: "in_progress", position: 1, version: 2 };
    const next = { ...tasks, b: moved };
    const patched = updateColumns({ tasks, columns, layout }, next, layout);
    expect(ids(patched.todo)).toEqual(["a"]);
    expect(ids(patched.in_progress)).toEqual(["b", "c"]);
    expect(patched.done).toBe(columns.done); // untouched column: same array, React skips it
    expect(patched).toEqual(columnsOf(Object.values(next), layout));
  });

  it("handles inserts, reorders within a column and deletions", () => {
    const d = makeTask({ id: "d", status: "todo", position: 15 });
    const { a: _gone, ...rest } = tasks;
    const next = { ...rest, d, b: { ...b, position: 1, version: 2 } };
    const patched = updateColumns({ tasks, columns, layout }, next, layout);
    expect(ids(patched.todo)).toEqual(["b", "d"]);
    expect(patched.in_progress).toBe(columns.in_progress);
  });

  it("regroups everything when the board's columns change", () => {
    const review = { id: "review", name: "Review", category: "in_progress" as const, wip_limit: null };
    const wider = layoutOf([...DEFAULT_BOARD_COLUMNS, review]);
    const moved = { ...c, column_id: "review", version: 2 };
    const next = { ...tasks, c: moved };
    const regrouped = updateColumns({ tasks, columns, layout }, next, wider);
    expect(ids(regrouped.review!)).toEqual(["c"]);
    expect(regrouped.in_progress).toEqual([]);
  });

  it("returns the same columns for the same tasks", () => {
    expect(updateColumns({ tasks, columns, layout }, tasks, layout)).toBe(columns);
  });

  it("stays correct over many random changes", () => {
    let current: Record<string, Task> = {};
    let cols = updateColumns(null, current, layout);
    const statuses = ["todo", "in_progress", "done"] as const;
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let i = 0; i < 500; i++) {
      const id = `t${rand(40)}`;
      const next: Record<string, Task> = { ...current };
      if (rand(5) === 0) delete next[id];
      else next[id] = makeTask({ id, status: statuses[rand(3)]!, position: rand(100), version: i + 1 });
      cols = updateColumns({ tasks: current, columns: cols, layout }, next, layout);
      current = next;
    }
    expect(cols).toEqual(columnsOf(Object.values(current), layout));
    expect(countOf(cols)).toBe(Object.keys(current).length);
  });
});

describe("filterColumns", () => {
  const a = makeTask({ id: "a", title: "Fix login", priority: "high" });
  const b = makeTask({ id: "b", title: "Write docs", tags: ["Login"], position: 2000 });
  const columns = updateColumns(null, byId([a, b]), layout);

  it("passes the columns through without a filter", () => {
    expect(filterColumns(columns, NO_FILTER, null)).toBe(columns);
  });

  it("matches title or tags, ignoring case; keeps filtered arrays of unchanged columns", () => {
    const filter = { ...NO_FILTER, text: "LOGIN" };
    const first = filterColumns(columns, filter, null);
    expect(ids(first.todo)).toEqual(["a", "b"]);
    expect(ids(filterColumns(columns, { ...filter, priority: "high" }, null).todo)).toEqual(["a"]);
    const again = filterColumns(columns, filter, { filter, source: columns, result: first });
    expect(again.todo).toBe(first.todo);
  });
});
