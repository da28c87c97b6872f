// Builders for test data: override only what a test is about.
import type { Board, BoardColumn, BoardEvent, Comment, Member, Task } from "../api/types";

let counter = 0;
const nextId = (prefix: string) => `${prefix}${++counter}`;

export function makeMember(overrides: Partial<Member> = {}): Member {
  const id = overrides.user_id ?? nextId("u");
  return { user_id: id, name: `User ${id}`, email: `${id}@example.test`, role: "editor", ...overrides };
}

/** The columns of a new board, with ids named after their category (so tests read easily). */
export const DEFAULT_BOARD_COLUMNS: BoardColumn[] = [
  { id: "todo", name: "To do", category: "todo", wip_limit: null },
  { id: "in_progress", name: "In progress", category: "in_progress", wip_limit: null },
  { id: "done", name: "Done", category: "done", wip_limit: null },
];

export function makeBoard(overrides: Partial<Board> = {}): Board {
  return {
    id: "b1",
    name: "Board",
    description: "",
    owner_id: "owner",
    role: "editor",
    members: [
      makeMember({ user_id: "owner", role: "owner" }),
      makeMember({ user_id: "me", role: "editor" }),
      makeMember({ user_id: "other", role: "editor" }),
    ],
    columns: DEFAULT_BOARD_COLUMNS,
    seq: 0,
    epoch: "e1",
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...overrides,
  };
}

export function makeTask(overrides: Partial<Task> = {}): Task {
  return {
    id: overrides.id ?? nextId("t"),
    board_id: "b1",
    title: "A task",
    description: "",
    status: "todo",
    priority: "medium",
    due_date: null,
    assignee_id: null,
    checklist: [],
    tags: [],
    position: 1024,
    created_by: "owner",
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    completed_at: null,
    version: 1,
    ...overrides,
    // The default board's column of its status, unless the test names one.
    column_id: overrides.column_id ?? overrides.status ?? "todo",
  };
}

export function makeComment(overrides: Partial<Comment> = {}): Comment {
  return {
    id: overrides.id ?? nextId("c"),
    task_id: "t1",
    board_id: "b1",
    author_id: "other",
    body: "Hello",
    created_at: "2026-01-02T00:00:00Z",
    ...overrides,
  };
}

/** An event envelope of the given type; `seq` is required because order is what tests are about. */
export function ev<E extends BoardEvent>(seq: number, type: E["type"], data: E["data"], boardId = "b1"): BoardEvent {
  return { seq, board_id: boardId, type, actor_id: "other", at: "2026-01-02T00:00:00Z", data } as BoardEvent;
}
