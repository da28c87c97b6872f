import type { Priority, Task } from "../api/types";

export interface TaskFilter {
  /** A user id, "unassigned", or "" for anyone. */
  assignee: string;
  priority: Priority | "";
  text: string;
}

export const NO_FILTER: TaskFilter = { assignee: "", priority: "", text: "" };

export function isFiltering(filter: TaskFilter): boolean {
  return filter.assignee !== "" || filter.priority !== "" || filter.text.trim() !== "";
}

/** Whether a task passes the filter (text matches title, description or a tag, ignoring case). */
export function matchesFilter(task: Task, filter: TaskFilter): boolean {
  if (filter.assignee === "unassigned" && task.assignee_id !== null) return false;
  if (filter.assignee && filter.assignee !== "unassigned" && task.assignee_id !== filter.assignee) return false;
  if (filter.priority && task.priority !== filter.priority) return false;
  const text = filter.text.trim().toLowerCase();
  if (!text) return true;
  return (
    task.title.toLowerCase().includes(text) ||
    task.description.toLowerCase().includes(text) ||
    task.tags.some((tag) => tag.toLowerCase().includes(text))
  );
}
