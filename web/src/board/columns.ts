/**
 * The board's columns, kept up to date incrementally: a live event changes one or two
 * tasks, so only their columns are rebuilt (by a binary-search insert), and the other
 * columns keep their identity, which lets React skip them entirely.
 */
import { STATUSES, type Status, type Task } from "../api/types";
import { matchesFilter, isFiltering, type TaskFilter } from "./filters";
import { columnsOf, compareTasks } from "./position";

export type Columns = Readonly<Record<Status, readonly Task[]>>;

export interface ColumnsSnapshot {
  tasks: Readonly<Record<string, Task>>;
  columns: Columns;
}

/** Above this many changed tasks a full regroup is cheaper than patching. */
const PATCH_LIMIT = 200;

/** The index at which `task` belongs in an ordered column. */
function insertionIndex(column: readonly Task[], task: Task): number {
  let lo = 0;
  let hi = column.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareTasks(column[mid]!, task) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The columns of `tasks`, reusing `prev` (the columns of an earlier task map) where nothing changed. */
export function updateColumns(prev: ColumnsSnapshot | null, tasks: Readonly<Record<string, Task>>): Columns {
  if (!prev) return columnsOf(Object.values(tasks));
  if (prev.tasks === tasks) return prev.columns;
  const changed: Task[] = [];
  const gone: Task[] = [];
  for (const id in tasks) {
    const task = tasks[id]!;
    if (prev.tasks[id] !== task) changed.push(task);
    if (changed.length > PATCH_LIMIT) return columnsOf(Object.values(tasks));
  }
  for (const id in prev.tasks) if (!(id in tasks)) gone.push(prev.tasks[id]!);
  if (changed.length + gone.length > PATCH_LIMIT) return columnsOf(Object.values(tasks));

  const columns: Record<Status, readonly Task[]> = { ...prev.columns };
  const touched = new Map<Status, Task[]>();
  const open = (status: Status): Task[] => {
    let list = touched.get(status);
    if (!list) {
      list = [...(columns[status] ?? [])];
      touched.set(status, list);
    }
    return list;
  };
  const take = (old: Task) => {
    const list = open(old.status);
    const at = list.indexOf(old);
    if (at >= 0) list.splice(at, 1);
  };
  for (const old of gone) take(old);
  for (const task of changed) {
    const old = prev.tasks[task.id];
    if (old) take(old);
    if (!STATUSES.includes(task.status)) continue;
    const list = open(task.status);
    list.splice(insertionIndex(list, task), 0, task);
  }
  for (const [status, list] of touched) columns[status] = list;
  return columns;
}

const haystacks = new WeakMap<Task, string>();

function haystack(task: Task): string {
  let text = haystacks.get(task);
  if (text === undefined) {
    text = `${task.title}\u0000${task.description}\u0000${task.tags.join("\u0000")}`.toLowerCase();
    haystacks.set(task, text);
  }
  return text;
}

/** Whether a task passes the filter; the lower-cased text of each task version is computed once. */
export function passes(task: Task, filter: TaskFilter, text: string): boolean {
  if (text && !haystack(task).includes(text)) return false;
  return matchesFilter(task, { ...filter, text: "" });
}

export interface FilterCache {
  filter: TaskFilter;
  source: Columns;
  result: Columns;
}

/** The columns as filtered; a column whose tasks did not change keeps its filtered array. */
export function filterColumns(columns: Columns, filter: TaskFilter, prev: FilterCache | null): Columns {
  if (!isFiltering(filter)) return columns;
  const text = filter.text.trim().toLowerCase();
  const sameFilter =
    prev !== null &&
    prev.filter.assignee === filter.assignee &&
    prev.filter.priority === filter.priority &&
    prev.filter.text.trim().toLowerCase() === text;
  const out = {} as Record<Status, readonly Task[]>;
  for (const status of STATUSES) {
    const column = columns[status];
    out[status] =
      sameFilter && prev.source[status] === column
        ? prev.result[status]
        : column.filter((task) => passes(task, filter, text));
  }
  return out;
}

export function countOf(columns: Columns): number {
  return STATUSES.reduce((n, s) => n + columns[s].length, 0);
}

/** The columns without the given tasks (columns holding none of them keep their identity). */
export function withoutTasks(columns: Columns, ids: ReadonlySet<string>): Columns {
  const out = {} as Record<Status, readonly Task[]>;
  for (const status of STATUSES) {
    const column = columns[status];
    out[status] = column.some((t) => ids.has(t.id)) ? column.filter((t) => !ids.has(t.id)) : column;
  }
  return out;
}
