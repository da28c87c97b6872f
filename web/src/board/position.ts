/**
 * Column order. A task's `position` orders its column ascending; a client moving a task
 * sends any number between its new neighbours' positions.
 */
import type { BoardColumn, Task } from "../api/types";

export const POSITION_STEP = 1024;

/** A number strictly between two neighbours (either may be missing: top or bottom of a column). */
export function positionBetween(before: number | undefined, after: number | undefined): number {
  if (before === undefined && after === undefined) return POSITION_STEP;
  if (before === undefined) return (after as number) - POSITION_STEP;
  if (after === undefined) return before + POSITION_STEP;
  return before + (after - before) / 2;
}

export function compareTasks(a: Task, b: Task): number {
  return a.position - b.position || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
}

/** A board's columns in order, and where each task shows. */
export interface Layout {
  readonly columns: readonly BoardColumn[];
  readonly ids: readonly string[];
  byId(id: string): BoardColumn | undefined;
  /**
   * The column a task shows in: its own, or, while the board's columns and the task
   * disagree for a moment (events in flight), the first column of the task's status.
   */
  place(task: Task): string | undefined;
}

export function layoutOf(columns: readonly BoardColumn[]): Layout {
  const byId = new Map(columns.map((c) => [c.id, c]));
  const firstOf = new Map<string, string>();
  for (const c of columns) if (!firstOf.has(c.category)) firstOf.set(c.category, c.id);
  return {
    columns,
    ids: columns.map((c) => c.id),
    byId: (id) => byId.get(id),
    place: (task) => (byId.has(task.column_id) ? task.column_id : firstOf.get(task.status)),
  };
}

/** The tasks of each column, in order. */
export function columnsOf(tasks: Iterable<Task>, layout: Layout): Record<string, Task[]> {
  const columns: Record<string, Task[]> = Object.fromEntries(layout.ids.map((id) => [id, [] as Task[]]));
  for (const task of tasks) {
    const place = layout.place(task);
    if (place !== undefined) columns[place]!.push(task);
  }
  for (const id of layout.ids) columns[id]!.sort(compareTasks);
  return columns;
}

/**
 * The position for `taskId` placed at `index` of `column` (an ordered column; the task itself,
 * if it is in there, is ignored when counting). `index` past the end means "last".
 */
export function positionAt(column: readonly Task[], taskId: string, index: number): number {
  const others = column.filter((t) => t.id !== taskId);
  const i = Math.max(0, Math.min(index, others.length));
  return positionBetween(others[i - 1]?.position, others[i]?.position);
}

export interface Move {
  column: BoardColumn;
  position: number;
}

/** Moving a task one place up (-1) or down (+1) in its column; null at the edge. */
export function moveWithinColumn(column: BoardColumn, tasks: readonly Task[], taskId: string, delta: -1 | 1): Move | null {
  const index = tasks.findIndex((t) => t.id === taskId);
  if (index < 0) return null;
  const target = index + delta;
  if (target < 0 || target >= tasks.length) return null;
  return { column, position: positionAt(tasks, taskId, target) };
}

/** The column beside `columnId` (-1 left, +1 right), if any. */
export function neighbourColumn(layout: Layout, columnId: string, delta: -1 | 1): BoardColumn | undefined {
  const index = layout.ids.indexOf(columnId);
  return index < 0 ? undefined : layout.columns[index + delta];
}

/** Moving a task to the neighbouring column (-1 left, +1 right), at the end of it; null at the edge. */
export function moveAcross(
  columns: Readonly<Record<string, readonly Task[]>>,
  layout: Layout,
  task: Task,
  delta: -1 | 1,
): Move | null {
  const place = layout.place(task);
  const column = place === undefined ? undefined : neighbourColumn(layout, place, delta);
  if (!column) return null;
  const tasks = columns[column.id] ?? [];
  return { column, position: positionAt(tasks, task.id, tasks.length) };
}

/** "3 / 5" and whether the column is at (or over) its WIP limit. */
export function wipOf(column: BoardColumn, count: number): { text: string; full: boolean; over: boolean } {
  if (column.wip_limit === null) return { text: String(count), full: false, over: false };
  return { text: `${count} / ${column.wip_limit}`, full: count >= column.wip_limit, over: count > column.wip_limit };
}
