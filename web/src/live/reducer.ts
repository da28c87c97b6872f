/**
 * A board as the client knows it, and how each board event changes it.
 *
 * Pure functions over immutable state: (state, event) -> state. Events are applied in
 * `seq` order (see eventBuffer.ts); replaying one already reflected in the state is
 * harmless, which is what lets a snapshot be taken at seq S and the events after S be
 * applied on top even if the snapshot already saw some of them.
 */
import type { Attachment, Board, BoardEvent, Comment, Member, Role, Task } from "../api/types";

/** `removed`: the viewer is no longer a member; `deleted`: the board is gone. */
export type Access = "ok" | "removed" | "deleted";

export interface BoardState {
  /** The signed-in user's id (to notice our own removal). */
  me: string;
  board: Board;
  tasks: Readonly<Record<string, Task>>;
  /** Comments per task, only for tasks whose comments were loaded. */
  comments: Readonly<Record<string, readonly Comment[]>>;
  /** Attachments per task, only for tasks whose attachments were loaded; kept current by events. */
  attachments: Readonly<Record<string, readonly Attachment[]>>;
  access: Access;
  /** The seq of the last event applied. */
  seq: number;
}

export function initialState(me: string, board: Board, tasks: readonly Task[]): BoardState {
  const byId: Record<string, Task> = {};
  for (const t of tasks) if (t.board_id === board.id) byId[t.id] = t;
  return { me, board, tasks: byId, comments: {}, attachments: {}, access: "ok", seq: board.seq };
}

/** Puts a task in place unless the state already holds a newer version of it. */
export function upsertTask(state: BoardState, task: Task): BoardState {
  if (task.board_id !== state.board.id) return state;
  const existing = state.tasks[task.id];
  if (existing && existing.version > task.version) return state;
  return { ...state, tasks: { ...state.tasks, [task.id]: task } };
}

/**
 * Merges a page of a snapshot that is still arriving: newer versions already in the state
 * (from live events) win, and tasks deleted since the load began (`deleted`) stay deleted.
 */
export function mergeTasks(state: BoardState, tasks: readonly Task[], deleted: ReadonlySet<string>): BoardState {
  let next: Record<string, Task> | null = null;
  for (const task of tasks) {
    if (task.board_id !== state.board.id || deleted.has(task.id)) continue;
    const existing = (next ?? state.tasks)[task.id];
    if (existing && existing.version >= task.version) continue;
    next ??= { ...state.tasks };
    next[task.id] = task;
  }
  return next ? { ...state, tasks: next } : state;
}

export function removeTask(state: BoardState, taskId: string): BoardState {
  if (!(taskId in state.tasks) && !(taskId in state.comments) && !(taskId in state.attachments)) return state;
  const { [taskId]: _task, ...tasks } = state.tasks;
  const { [taskId]: _comments, ...comments } = state.comments;
  const { [taskId]: _attachments, ...attachments } = state.attachments;
  return { ...state, tasks, comments, attachments };
}

/** Replaces a task's loaded comments (from GET /tasks/{id}/comments). */
export function setComments(state: BoardState, taskId: string, comments: readonly Comment[]): BoardState {
  return { ...state, comments: { ...state.comments, [taskId]: sortComments(comments) } };
}

export function addComment(state: BoardState, comment: Comment): BoardState {
  const list = state.comments[comment.task_id];
  if (!list || list.some((c) => c.id === comment.id)) return state; // not loaded, or seen
  return { ...state, comments: { ...state.comments, [comment.task_id]: sortComments([...list, comment]) } };
}

export function removeComment(state: BoardState, taskId: string, commentId: string): BoardState {
  const list = state.comments[taskId];
  if (!list || !list.some((c) => c.id === commentId)) return state;
  return { ...state, comments: { ...state.comments, [taskId]: list.filter((c) => c.id !== commentId) } };
}

function sortComments(list: readonly Comment[]): Comment[] {
  return [...list].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

function withMembers(state: BoardState, members: Member[]): BoardState {
  const mine = members.find((m) => m.user_id === state.me);
  const role: Role | undefined = mine?.role ?? state.board.role;
  return { ...state, board: { ...state.board, members, role } };
}

function upsertMember(state: BoardState, member: Member): BoardState {
  const others = state.board.members.filter((m) => m.user_id !== member.user_id);
  const index = state.board.members.findIndex((m) => m.user_id === member.user_id);
  const members = index < 0 ? [...others, member] : state.board.members.map((m, i) => (i === index ? member : m));
  return withMembers(state, members);
}

/** Replaces a task's loaded attachments (from GET /tasks/{id}/attachments). */
export function setAttachments(state: BoardState, taskId: string, list: readonly Attachment[]): BoardState {
  return { ...state, attachments: { ...state.attachments, [taskId]: sortAttachments(list) } };
}

function sortAttachments(list: readonly Attachment[]): Attachment[] {
  return [...list].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

export function upsertAttachment(state: BoardState, attachment: Attachment): BoardState {
  const list = state.attachments[attachment.task_id];
  if (!list) return state; // not loaded: the list is read when someone opens the task
  const next = sortAttachments([...list.filter((a) => a.id !== attachment.id), attachment]);
  return { ...state, attachments: { ...state.attachments, [attachment.task_id]: next } };
}

export function removeAttachment(state: BoardState, taskId: string, id: string): BoardState {
  const list = state.attachments[taskId];
  if (!list) return state;
  return { ...state, attachments: { ...state.attachments, [taskId]: list.filter((a) => a.id !== id) } };
}

/** The state after one event of this board. Events of other boards, or after access was lost, change nothing. */
export function applyEvent(state: BoardState, event: BoardEvent): BoardState {
  if (event.board_id !== state.board.id || state.access !== "ok") return state;
  const next = applyData(state, event);
  if (next.access !== "ok") return { ...next, seq: Math.max(next.seq, event.seq) };
  const seq = Math.max(next.seq, event.seq);
  return { ...next, seq, board: { ...next.board, seq: Math.max(next.board.seq, seq) } };
}

export function applyEvents(state: BoardState, events: readonly BoardEvent[]): BoardState {
  return events.reduce(applyEvent, state);
}

function applyData(state: BoardState, event: BoardEvent): BoardState {
  switch (event.type) {
    case "task:created":
    case "task:updated":
      return upsertTask(state, event.data);
    case "task:deleted":
      return removeTask(state, event.data.id);
    case "comment:created":
      return addComment(state, event.data);
    case "comment:deleted":
      return removeComment(state, event.data.task_id, event.data.id);
    case "board:updated": {
      const { role: _ignored, ...data } = event.data;
      const merged: BoardState = { ...state, board: { ...state.board, ...data, role: state.board.role } };
      return Array.isArray(data.members) ? withMembers(merged, data.members) : merged;
    }
    case "board:deleted":
      return { ...state, access: "deleted" };
    case "member:added":
    case "member:updated":
      return upsertMember(state, event.data);
    case "member:removed":
      if (event.data.user_id === state.me) return { ...state, access: "removed" };
      return withMembers(
        state,
        state.board.members.filter((m) => m.user_id !== event.data.user_id),
      );
    case "attachment:added":
      return upsertAttachment(state, event.data);
    case "attachment:deleted":
      return removeAttachment(state, event.data.task_id, event.data.id);
    default:
      return state; // an event type this client doesn't know yet: additive changes are allowed
  }
}

/** The caller's role on the board, as the state knows it now. */
export function myRole(state: BoardState): Role | undefined {
  return state.board.members.find((m) => m.user_id === state.me)?.role ?? state.board.role;
}

export function canEditTasks(state: BoardState): boolean {
  const role = myRole(state);
  return state.access === "ok" && (role === "owner" || role === "editor");
}
