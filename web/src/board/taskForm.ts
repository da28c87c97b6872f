/**
 * The task editor's form: conversion between a task and the strings of its inputs,
 * and the minimal PATCH body for what the user changed.
 */
import type { Priority, Task, TaskChanges } from "../api/types";

export interface TaskForm {
  title: string;
  description: string;
  /** The id of the board column the task is in (its status follows from it). */
  column: string;
  priority: Priority;
  /** `YYYY-MM-DD` or "" for none (the date input's value). */
  due: string;
  /** A user id or "" for unassigned. */
  assignee: string;
  /** Comma-separated. */
  tags: string;
}

export type TaskFormField = keyof TaskForm;

export const FIELD_LABELS: Record<TaskFormField, string> = {
  title: "Title",
  description: "Description",
  column: "Column",
  priority: "Priority",
  due: "Due date",
  assignee: "Assignee",
  tags: "Tags",
};

/** The UTC calendar date of an RFC 3339 timestamp (the server returns due dates as UTC date-times). */
export function dateInputValue(iso: string | null): string {
  if (!iso) return "";
  const match = /^(\d{4}-\d{2}-\d{2})/.exec(iso);
  if (match && iso.length === 10) return match[1] ?? "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? (match?.[1] ?? "") : d.toISOString().slice(0, 10);
}

export function parseTags(text: string): string[] {
  const seen = new Set<string>();
  for (const raw of text.split(",")) {
    const tag = raw.trim();
    if (tag) seen.add(tag);
  }
  return [...seen];
}

export function formFromTask(task: Task): TaskForm {
  return {
    title: task.title,
    description: task.description,
    column: task.column_id,
    priority: task.priority,
    due: dateInputValue(task.due_date),
    assignee: task.assignee_id ?? "",
    tags: task.tags.join(", "),
  };
}

/** The fields whose input differs between two forms (tags compared as lists). */
export function changedFields(a: TaskForm, b: TaskForm): TaskFormField[] {
  return (Object.keys(FIELD_LABELS) as TaskFormField[]).filter((field) =>
    field === "tags"
      ? parseTags(a.tags).join("\u0000") !== parseTags(b.tags).join("\u0000")
      : field === "title"
        ? a.title.trim() !== b.title.trim()
        : a[field] !== b[field],
  );
}

/** The PATCH body for the fields the user changed relative to `base`. */
export function changesFrom(base: Task, form: TaskForm): TaskChanges {
  const changes: TaskChanges = {};
  for (const field of changedFields(formFromTask(base), form)) {
    switch (field) {
      case "title":
        changes.title = form.title.trim();
        break;
      case "description":
        changes.description = form.description;
        break;
      case "column":
        changes.column_id = form.column;
        break;
      case "priority":
        changes.priority = form.priority;
        break;
      case "due":
        changes.due_date = form.due || null;
        break;
      case "assignee":
        changes.assignee_id = form.assignee || null;
        break;
      case "tags":
        changes.tags = parseTags(form.tags);
        break;
    }
  }
  return changes;
}

/** Maps a 422's field names (API names) to the form's. */
export function formFieldOf(apiField: string): TaskFormField | null {
  const map: Record<string, TaskFormField> = {
    title: "title",
    description: "description",
    status: "column",
    column_id: "column",
    priority: "priority",
    due_date: "due",
    assignee_id: "assignee",
    tags: "tags",
  };
  return map[apiField] ?? null;
}

/** My draft applied over their version: what "keep mine" will save. */
export function mergeMine(theirs: Task, base: Task, mine: TaskForm): TaskForm {
  const merged = formFromTask(theirs);
  for (const field of changedFields(formFromTask(base), mine)) (merged as unknown as Record<string, string>)[field] = mine[field];
  return merged;
}
