// The resources of the TaskFlow v1 contract (shared/CONTRACT.md), as the browser sees them.

export type Role = "owner" | "editor" | "viewer";
export type Status = "todo" | "in_progress" | "done";
export type Priority = "low" | "medium" | "high" | "urgent";

export const STATUSES: readonly Status[] = ["todo", "in_progress", "done"];
export const PRIORITIES: readonly Priority[] = ["low", "medium", "high", "urgent"];
export const ROLES: readonly Role[] = ["owner", "editor", "viewer"];

export const STATUS_LABELS: Record<Status, string> = {
  todo: "To do",
  in_progress: "In progress",
  done: "Done",
};

export interface User {
  id: string;
  email: string;
  name: string;
  created_at: string;
}

export interface Session {
  user: User;
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface Member {
  user_id: string;
  name: string;
  email: string;
  role: Role;
}

/** One column of a board; `category` is fixed at creation and is the `status` of its tasks. */
export interface BoardColumn {
  id: string;
  name: string;
  category: Status;
  /** null: no limit. A full column is marked; a move into it is still allowed. */
  wip_limit: number | null;
}

export interface Board {
  id: string;
  name: string;
  description: string;
  owner_id: string;
  /** The caller's role; absent from the copies carried by live events. */
  role?: Role;
  members: Member[];
  /** In order; at least one of each category. */
  columns: BoardColumn[];
  seq: number;
  /** The epoch `seq` counts in: a `since` of another epoch gets a resync (join) or 410 (events). */
  epoch: string;
  created_at: string;
  updated_at: string;
}

export interface Task {
  id: string;
  board_id: string;
  title: string;
  description: string;
  /** The category of the task's column (derived by the server). */
  status: Status;
  column_id: string;
  priority: Priority;
  due_date: string | null;
  assignee_id: string | null;
  tags: string[];
  position: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  version: number;
  /** Checklist items, by position. */
  checklist: ChecklistItem[];
}

/** One line of a task's checklist (`POST/PATCH/DELETE /tasks/{id}/checklist[/{item_id}]`). */
export interface ChecklistItem {
  id: string;
  text: string;
  done: boolean;
  position: number;
}

/** One entry of `GET /tasks/{id}/activity`: an event of the task, with what it changed. */
export interface ActivityEntry {
  seq: number;
  at: string;
  type: "task:created" | "task:updated" | "comment:created" | "comment:deleted" | "attachment:added" | "attachment:deleted";
  actor: { user_id: string; name: string };
  changes: ActivityChange[];
}

export interface ActivityChange {
  /** A task field, or "checklist" (one item), "comment", "attachment". */
  field: string;
  before: unknown;
  after: unknown;
}

/** The fields a client may write on a task. */
export type TaskChanges = Partial<
  Pick<Task, "title" | "description" | "status" | "column_id" | "priority" | "due_date" | "assignee_id" | "tags" | "position">
>;

export interface NewTask extends TaskChanges {
  board_id: string;
  title: string;
}

export interface Comment {
  id: string;
  task_id: string;
  board_id?: string;
  author_id: string;
  body: string;
  created_at: string;
}

/** A file on a task (`GET /tasks/{id}/attachments`; the `attachment:added` event carries the same). */
export interface Attachment {
  id: string;
  task_id: string;
  filename: string;
  content_type: string;
  size: number;
  created_by: string;
  created_at: string;
}

export interface UploadOptions {
  max_bytes: number;
  direct_upload: boolean;
}

export interface DirectUpload {
  attachment_id: string;
  upload: { url: string; fields: Record<string, string> };
  expires_in: number;
}

export interface ListPage<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PresenceUser {
  user_id: string;
  name: string;
}

export type BoardEventType =
  | "task:created"
  | "task:updated"
  | "task:deleted"
  | "comment:created"
  | "comment:deleted"
  | "board:updated"
  | "board:deleted"
  | "member:added"
  | "member:updated"
  | "member:removed"
  | "attachment:added"
  | "attachment:deleted";

export const BOARD_EVENT_TYPES: readonly BoardEventType[] = [
  "task:created",
  "task:updated",
  "task:deleted",
  "comment:created",
  "comment:deleted",
  "board:updated",
  "board:deleted",
  "member:added",
  "member:updated",
  "member:removed",
  "attachment:added",
  "attachment:deleted",
];

interface EventEnvelope<K extends BoardEventType, D> {
  seq: number;
  board_id: string;
  type: K;
  actor_id: string;
  at: string;
  data: D;
}

export type BoardEvent =
  | EventEnvelope<"task:created", Task>
  | EventEnvelope<"task:updated", Task>
  | EventEnvelope<"task:deleted", { id: string }>
  | EventEnvelope<"comment:created", Comment>
  | EventEnvelope<"comment:deleted", { id: string; task_id: string }>
  | EventEnvelope<"board:updated", Board>
  | EventEnvelope<"board:deleted", { id: string }>
  | EventEnvelope<"member:added", Member>
  | EventEnvelope<"member:updated", Member>
  | EventEnvelope<"member:removed", { user_id: string }>
  | EventEnvelope<"attachment:added", Attachment>
  | EventEnvelope<"attachment:deleted", { id: string; task_id: string }>;

export interface EventsPage {
  items: BoardEvent[];
  latest_seq: number;
  epoch: string;
}

export interface FieldError {
  loc: (string | number)[];
  msg: string;
}

/** An RFC 9457 problem document as the server sends it. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: FieldError[];
  /** On 412: the task as it is now. */
  current?: Task;
  /** On 410 events_gone. */
  latest_seq?: number;
  /** On 409 owns_shared_boards (deleting an account): the boards others still use. */
  boards?: { id: string; name: string }[];
}

/** Where a search's words were found in a task. */
export type SearchField = "title" | "description" | "comments";

export interface SearchHit {
  task: Task;
  board: { id: string; name: string };
  matched_in: SearchField[];
}

export interface SearchPage {
  items: SearchHit[];
  next_cursor: string | null;
}
