// Checklist and activity logic the task dialog and the cards share; pure functions.
import type { ActivityChange, ActivityEntry, ChecklistItem, Member } from "../api/types";
import { STATUS_LABELS, type Status } from "../api/types";

export interface Progress {
  done: number;
  total: number;
}

export function progressOf(items: readonly ChecklistItem[] | undefined): Progress {
  const list = items ?? [];
  return { done: list.filter((i) => i.done).length, total: list.length };
}

/** What a screen reader hears for the card's "3/5". */
export function progressLabel({ done, total }: Progress): string {
  return `Checklist: ${done} of ${total} done`;
}

/**
 * The position that moves item `index` one place up (-1) or down (+1): between its new
 * neighbours, or a step past the end. Null when it can't move that way.
 */
export function movedPosition(items: readonly ChecklistItem[], index: number, delta: -1 | 1): number | null {
  const target = index + delta;
  if (index < 0 || index >= items.length || target < 0 || target >= items.length) return null;
  const rest = items.filter((_, i) => i !== index);
  // In `rest`, the item lands at `target`: between rest[target - 1] and rest[target].
  const before = rest[target - 1];
  const after = rest[target];
  if (before && after) return (before.position + after.position) / 2;
  if (after) return after.position - 1024;
  return (before?.position ?? 0) + 1024;
}

/** Entries of several pages in one list, newest first, each seq once (a live refetch overlaps). */
export function mergeActivity(
  current: readonly ActivityEntry[],
  incoming: readonly ActivityEntry[],
): ActivityEntry[] {
  const bySeq = new Map<number, ActivityEntry>();
  for (const e of [...current, ...incoming]) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => b.seq - a.seq);
}

const FIELD_LABELS: Record<string, string> = {
  title: "title",
  description: "description",
  status: "status",
  priority: "priority",
  due_date: "due date",
  assignee_id: "assignee",
  tags: "tags",
  position: "position",
  completed_at: "completed",
};

function isItem(value: unknown): value is ChecklistItem {
  return typeof value === "object" && value !== null && "text" in value && "done" in value;
}

function show(field: string, value: unknown, members: readonly Member[]): string {
  if (value === null || value === undefined || value === "") return "nothing";
  if (field === "assignee_id") return members.find((m) => m.user_id === value)?.name ?? "a former member";
  if (field === "status") return STATUS_LABELS[value as Status] ?? String(value);
  if (field === "due_date" || field === "completed_at") {
    const d = new Date(String(value));
    return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleDateString(undefined, { timeZone: "UTC" });
  }
  if (Array.isArray(value)) return value.length ? value.join(", ") : "nothing";
  const text = String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** One change as a short sentence ("ticked “Write tests”", "status: To do → Done"). */
export function describeChange(change: ActivityChange, members: readonly Member[]): string {
  const { field, before, after } = change;
  if (field === "checklist") {
    if (!isItem(before) && isItem(after)) return `added “${after.text}” to the checklist`;
    if (isItem(before) && !isItem(after)) return `removed “${before.text}” from the checklist`;
    if (isItem(before) && isItem(after)) {
      if (before.done !== after.done) return `${after.done ? "ticked" : "unticked"} “${after.text}”`;
      if (before.text !== after.text) return `renamed “${before.text}” to “${after.text}”`;
      return `moved “${after.text}” in the checklist`;
    }
    return "changed the checklist";
  }
  if (field === "comment") {
    const body = (after as { body?: string } | null)?.body;
    return body !== undefined ? `commented: ${show("comment", body, members)}` : "deleted a comment";
  }
  if (field === "attachment") {
    const name = (after as { filename?: string } | null)?.filename;
    return name !== undefined ? `attached ${name}` : "removed an attachment";
  }
  const label = FIELD_LABELS[field] ?? field;
  if (before === null || before === undefined) return `${label}: ${show(field, after, members)}`;
  return `${label}: ${show(field, before, members)} → ${show(field, after, members)}`;
}

/** The headline of an entry ("created the task", "updated the task", ...). */
export function describeEntry(entry: ActivityEntry): string {
  switch (entry.type) {
    case "task:created":
      return "created the task";
    case "task:updated":
      return "updated the task";
    case "comment:created":
    case "comment:deleted":
      return "comments";
    default:
      return "attachments";
  }
}

/**
 * What changes when an event of this task arrives: its version (task:updated), its comments
 * and its attachments. The activity list refetches its first page when this key changes.
 */
export function activityKey(
  version: number | undefined,
  comments: readonly { id: string }[] | undefined,
  attachments: readonly { id: string }[] | undefined,
): string {
  const ids = (list: readonly { id: string }[] | undefined) => (list ? list.map((x) => x.id).join(",") : "-");
  return `${version ?? "-"}|${ids(comments)}|${ids(attachments)}`;
}
