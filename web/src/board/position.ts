/**
 * Column order. A task's `position` orders its status column ascending; a client moving
 * a task sends any number between its new neighbours' positions.
 */
import { STATUSES, type Status, type Task } from "../api/types";

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

/** The tasks of each status column, in order. */
export function columnsOf(tasks: Iterable<Task>): Record<Status, Task[]> {
  const columns = Object.fromEntries(STATUSES.map((s) => [s, [] as Task[]])) as Record<Status, Task[]>;
  for (const task of tasks) columns[task.status]?.push(task);
  for (const s of STATUSES) columns[s].sort(compareTasks);
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
  status: Status;
  position: number;
}

/** Moving a task one place up (-1) or down (+1) in its column; null at the edge. */
export function moveWithinColumn(column: readonly Task[], taskId: string, delta: -1 | 1): Move | null {
  const index = column.findIndex((t) => t.id === taskId);
  const task = column[index];
  if (!task) return null;
  const target = index + delta;
  if (target < 0 || target >= column.length) return null;
  return { status: task.status, position: positionAt(column, taskId, target) };
}

/** Moving a task to the neighbouring column (-1 left, +1 right), at the end of it; null at the edge. */
export function moveAcross(
  columns: Record<Status, readonly Task[]>,
  task: Task,
  delta: -1 | 1,
): Move | null {
  const status = STATUSES[STATUSES.indexOf(task.status) + delta];
  if (!status) return null;
  const column = columns[status];
  return { status, position: positionAt(column, task.id, column.length) };
}
