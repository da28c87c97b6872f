/**
 * The board's columns, kept up to date incrementally: a live event changes one or two
 * tasks, so only their columns are rebuilt (by a binary-search insert), and the other
 * columns keep their identity, which lets React skip them entirely.
 */
import type { Task } from "../api/types";
import { matchesFilter, isFiltering, type TaskFilter } from "./filters";
import { columnsOf, compareTasks, type Layout } from "./position";

/** The tasks of each of the board's columns, by column id. */
export type Columns = Readonly<Record<string, readonly Task[]>>;

export interface ColumnsSnapshot {
  tasks: Readonly<Record<string, Task>>;
  layout: Layout;
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
export function updateColumns(prev: ColumnsSnapshot | null, tasks: Readonly<Record<string, Task>>, layout: Layout): Columns {
  // Columns added, renamed, reordered or deleted (rare): everything is regrouped.
  if (!prev || prev.layout !== layout) return columnsOf(Object.values(tasks), layout);
  if (prev.tasks === tasks) return prev.columns;
  const changed: Task[] = [];
  const gone: Task[] = [];
  for (const id in tasks) {
    const task = tasks[id]!;
    if (prev.tasks[id] !== task) changed.push(task);
    if (changed.length > PATCH_LIMIT) return columnsOf(Object.values(tasks), layout);
  }
  for (const id in prev.tasks) if (!(id in tasks)) gone.push(prev.tasks[id]!);
  if (changed.length + gone.length > PATCH_LIMIT) return columnsOf(Object.values(tasks), layout);

  const columns: Record<string, readonly Task[]> = { ...prev.columns };
  const touched = new Map<string, Task[]>();
  const open = (columnId: string): Task[] => {
    let list = touched.get(columnId);
    if (!list) {
      list = [...(columns[columnId] ?? [])];
      touched.set(columnId, list);
    }
    return list;
  };
  const take = (old: Task) => {
    const place = layout.place(old);
    if (place === undefined) return;
    const list = open(place);
    const at = list.indexOf(old);
    if (at >= 0) list.splice(at, 1);
  };
  for (const old of gone) take(old);
  for (const task of changed) {
    const old = prev.tasks[task.id];
    if (old) take(old);
    const place = layout.place(task);
    if (place === undefined) continue;
    const list = open(place);
    list.splice(insertionIndex(list, task), 0, task);
  }
  for (const [columnId, list] of touched) columns[columnId] = list;
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
  const out: Record<string, readonly Task[]> = {};
  for (const [columnId, column] of Object.entries(columns)) {
    const cached = sameFilter && prev.source[columnId] === column ? prev.result[columnId] : undefined;
    out[columnId] = cached ?? column.filter((task) => passes(task, filter, text));
  }
  return out;
}

export function countOf(columns: Columns): number {
  return Object.values(columns).reduce((n, column) => n + column.length, 0);
}

/** The columns without the given tasks (columns holding none of them keep their identity). */
export function withoutTasks(columns: Columns, ids: ReadonlySet<string>): Columns {
  const out: Record<string, readonly Task[]> = {};
  for (const [columnId, column] of Object.entries(columns)) {
    out[columnId] = column.some((t) => ids.has(t.id)) ? column.filter((t) => !ids.has(t.id)) : column;
  }
  return out;
}
