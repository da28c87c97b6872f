import { describe, expect, it } from "vitest";
import type { BoardEvent } from "../api/types";
import { columnsOf, layoutOf } from "../board/position";
import { ev, makeBoard, makeComment, makeMember, makeTask } from "../test/factories";
import {
  addComment,
  applyEvent,
  applyEvents,
  canEditTasks,
  initialState,
  myRole,
  setComments,
  upsertTask,
  type BoardState, setAttachments } from "./reducer";

function start(tasks = [makeTask({ id: "t1" })]): BoardState {
  return initialState("me", makeBoard({ seq: 10 }), tasks);
}

describe("initialState", () => {
  it("indexes the board's tasks and starts at the board's seq", () => {
    const s = initialState("me", makeBoard({ seq: 7 }), [makeTask({ id: "a" }), makeTask({ id: "x", board_id: "b2" })]);
    expect(Object.keys(s.tasks)).toEqual(["a"]);
    expect(s.seq).toBe(7);
    expect(s.access).toBe("ok");
  });
});

describe("applyEvent: tasks", () => {
  it("task:created adds the task", () => {
    const task = makeTask({ id: "t2", title: "New" });
    const s = applyEvent(start(), ev(11, "task:created", task));
    expect(s.tasks.t2).toEqual(task);
    expect(s.seq).toBe(11);
    expect(s.board.seq).toBe(11);
  });

  it("task:updated replaces the task", () => {
    const s = applyEvent(start(), ev(11, "task:updated", makeTask({ id: "t1", title: "Renamed", version: 2 })));
    expect(s.tasks.t1?.title).toBe("Renamed");
    expect(s.tasks.t1?.version).toBe(2);
  });

  it("task:updated moving a task between columns moves it in the column view", () => {
    const s0 = start([
      makeTask({ id: "t1", status: "todo", position: 1 }),
      makeTask({ id: "t2", status: "in_progress", position: 1 }),
    ]);
    const moved = makeTask({ id: "t1", status: "in_progress", position: 0.5, version: 2 });
    const s1 = applyEvent(s0, ev(11, "task:updated", moved));
    const cols = columnsOf(Object.values(s1.tasks), layoutOf(s1.board.columns));
    expect(cols.todo!.map((t) => t.id)).toEqual([]);
    expect(cols.in_progress!.map((t) => t.id)).toEqual(["t1", "t2"]);
  });

  it("board:updated carries the board's columns: added, renamed and reordered live", () => {
    const s0 = start([makeTask({ id: "t1", status: "in_progress", column_id: "review" })]);
    const review = { id: "review", name: "Review", category: "in_progress" as const, wip_limit: 1 };
    const [todo, doing, done] = s0.board.columns;
    const board = { ...s0.board, role: undefined, columns: [done!, todo!, review, doing!], seq: 11 };
    const s1 = applyEvent(s0, ev(11, "board:updated", board));
    expect(s1.board.columns.map((c) => c.id)).toEqual(["done", "todo", "review", "in_progress"]);
    expect(s1.board.role).toBe(s0.board.role); // the caller's role is kept
    const cols = columnsOf(Object.values(s1.tasks), layoutOf(s1.board.columns));
    expect(cols.review!.map((t) => t.id)).toEqual(["t1"]);
  });

  it("task:updated never rolls back to an older version than the state has", () => {
    const s0 = upsertTask(start(), makeTask({ id: "t1", title: "From my PATCH", version: 3 }));
    const s = applyEvent(s0, ev(11, "task:updated", makeTask({ id: "t1", title: "Old", version: 2 })));
    expect(s.tasks.t1?.title).toBe("From my PATCH");
    expect(s.seq).toBe(11); // the event still counts as applied
  });

  it("task:deleted removes the task and its comments", () => {
    const s0 = setComments(start(), "t1", [makeComment({ task_id: "t1" })]);
    const s = applyEvent(s0, ev(11, "task:deleted", { id: "t1" }));
    expect(s.tasks.t1).toBeUndefined();
    expect(s.comments.t1).toBeUndefined();
  });

  it("task:deleted of an unknown task changes nothing but seq", () => {
    const s0 = start();
    const s = applyEvent(s0, ev(11, "task:deleted", { id: "nope" }));
    expect(s.tasks).toBe(s0.tasks);
  });
});

describe("applyEvent: comments", () => {
  it("comment:created appends to loaded comments, oldest first, once", () => {
    const first = makeComment({ id: "c1", task_id: "t1", created_at: "2026-01-02T00:00:00Z" });
    const later = makeComment({ id: "c2", task_id: "t1", created_at: "2026-01-03T00:00:00Z" });
    let s = setComments(start(), "t1", [first]);
    s = applyEvent(s, ev(11, "comment:created", later));
    s = addComment(s, later); // our own POST's response arriving after its event
    expect(s.comments.t1?.map((c) => c.id)).toEqual(["c1", "c2"]);
  });

  it("comment:created for a task whose comments aren't loaded is left to the next load", () => {
    const s = applyEvent(start(), ev(11, "comment:created", makeComment({ task_id: "t1" })));
    expect(s.comments.t1).toBeUndefined();
    expect(s.seq).toBe(11);
  });

  it("comment:deleted removes the comment", () => {
    const s0 = setComments(start(), "t1", [makeComment({ id: "c1", task_id: "t1" }), makeComment({ id: "c2", task_id: "t1" })]);
    const s = applyEvent(s0, ev(11, "comment:deleted", { id: "c1", task_id: "t1" }));
    expect(s.comments.t1?.map((c) => c.id)).toEqual(["c2"]);
  });
});

describe("applyEvent: board and members", () => {
  it("board:updated takes the new fields and keeps the caller's role (events carry none)", () => {
    const { role: _r, ...data } = makeBoard({ name: "Renamed", description: "New", seq: 11 });
    const s = applyEvent(start(), ev(11, "board:updated", data));
    expect(s.board.name).toBe("Renamed");
    expect(s.board.description).toBe("New");
    expect(s.board.role).toBe("editor");
  });

  it("board:updated whose member list demotes me updates my role", () => {
    const data = makeBoard({ members: [makeMember({ user_id: "owner", role: "owner" }), makeMember({ user_id: "me", role: "viewer" })] });
    const s = applyEvent(start(), ev(11, "board:updated", data));
    expect(myRole(s)).toBe("viewer");
    expect(canEditTasks(s)).toBe(false);
  });

  it("board:deleted ends access, and later events change nothing", () => {
    let s = applyEvent(start(), ev(11, "board:deleted", { id: "b1" }));
    expect(s.access).toBe("deleted");
    s = applyEvent(s, ev(12, "task:created", makeTask({ id: "late" })));
    expect(s.tasks.late).toBeUndefined();
    expect(canEditTasks(s)).toBe(false);
  });

  it("member:added adds a member", () => {
    const s = applyEvent(start(), ev(11, "member:added", makeMember({ user_id: "new", role: "viewer" })));
    expect(s.board.members.find((m) => m.user_id === "new")?.role).toBe("viewer");
  });

  it("member:added for someone already listed replaces them instead of duplicating", () => {
    const s = applyEvent(start(), ev(11, "member:added", makeMember({ user_id: "other", role: "viewer" })));
    expect(s.board.members.filter((m) => m.user_id === "other")).toHaveLength(1);
  });

  it("member:updated changes a role; for me it changes what I may do", () => {
    let s = applyEvent(start(), ev(11, "member:updated", makeMember({ user_id: "other", role: "viewer" })));
    expect(s.board.members.find((m) => m.user_id === "other")?.role).toBe("viewer");
    expect(canEditTasks(s)).toBe(true);
    s = applyEvent(s, ev(12, "member:updated", makeMember({ user_id: "me", role: "viewer" })));
    expect(s.board.role).toBe("viewer");
    expect(canEditTasks(s)).toBe(false);
  });

  it("member:removed of someone else drops them; their unassigned tasks follow as task:updated", () => {
    const s0 = start([makeTask({ id: "t1", assignee_id: "other" })]);
    const s = applyEvents(s0, [
      ev(11, "member:removed", { user_id: "other" }),
      ev(12, "task:updated", makeTask({ id: "t1", assignee_id: null, version: 2 })),
    ]);
    expect(s.board.members.map((m) => m.user_id)).not.toContain("other");
    expect(s.tasks.t1?.assignee_id).toBeNull();
    expect(s.access).toBe("ok");
  });

  it("member:removed of me ends my access to the board", () => {
    const s = applyEvent(start(), ev(11, "member:removed", { user_id: "me" }));
    expect(s.access).toBe("removed");
    expect(canEditTasks(s)).toBe(false);
    expect(applyEvent(s, ev(12, "task:created", makeTask({ id: "x" }))).tasks.x).toBeUndefined();
  });
});

describe("applyEvent: attachments", () => {
  const file = (id: string, at: string) =>
    ({ id, task_id: "t1", filename: `${id}.png`, content_type: "image/png", size: 3, created_by: "other", created_at: at });
  it("attachment:added and attachment:deleted keep a loaded per-task list, in upload order", () => {
    const unloaded = applyEvent(start(), ev(11, "attachment:added", file("a0", "2026-01-01T00:00:00Z")));
    expect(unloaded.attachments.t1).toBeUndefined(); // not loaded: the next open reads the list
    let s = setAttachments(unloaded, "t1", []);
    s = applyEvent(s, ev(12, "attachment:added", file("a2", "2026-01-03T00:00:00Z")));
    s = applyEvent(s, ev(13, "attachment:added", file("a1", "2026-01-02T00:00:00Z")));
    expect(s.attachments.t1?.map((a) => a.id)).toEqual(["a1", "a2"]);
    expect(applyEvent(s, ev(14, "attachment:added", file("a2", "2026-01-03T00:00:00Z"))).attachments.t1).toHaveLength(2);
    s = applyEvent(s, ev(14, "attachment:deleted", { id: "a1", task_id: "t1" }));
    expect(s.attachments.t1?.map((a) => a.id)).toEqual(["a2"]);
  });
});

describe("applyEvent: robustness", () => {
  it("ignores events of another board", () => {
    const s0 = start();
    expect(applyEvent(s0, ev(11, "task:created", makeTask({ id: "t9" }), "b2"))).toBe(s0);
  });

  it("ignores unknown event types (additive contract changes)", () => {
    const s0 = start();
    const odd = { ...ev(11, "task:created", makeTask()), type: "task:archived" } as unknown as BoardEvent;
    expect(applyEvent(s0, odd).tasks).toBe(s0.tasks);
  });
});

describe("recovery: a snapshot plus the events after it equals a fresh fetch", () => {
  // The client's guarantee: whichever point the snapshot was taken at, replaying the
  // log from the snapshot's seq gives the same state as fetching at the end.
  const t1v1 = makeTask({ id: "t1", title: "one", position: 1 });
  const t2v1 = makeTask({ id: "t2", title: "two", position: 2 });
  const t1v2 = { ...t1v1, status: "done" as const, version: 2, completed_at: "2026-01-03T00:00:00Z" };
  const t3v1 = makeTask({ id: "t3", title: "three", position: 3 });
  const log: BoardEvent[] = [
    ev(1, "task:created", t1v1),
    ev(2, "task:created", t2v1),
    ev(3, "task:updated", t1v2),
    ev(4, "task:deleted", { id: "t2" }),
    ev(5, "member:added", makeMember({ user_id: "z", role: "viewer" })),
    ev(6, "task:created", t3v1),
  ];
  const tasksAfter = [
    [],
    [t1v1],
    [t1v1, t2v1],
    [t1v2, t2v1],
    [t1v2],
    [t1v2],
    [t1v2, t3v1],
  ];
  const final = applyEvents(initialState("me", makeBoard({ seq: 0 }), []), log);

  it.each([0, 1, 2, 3, 4, 5, 6])("snapshot at seq %i", (at) => {
    const snapshot = initialState("me", makeBoard({ seq: at }), tasksAfter[at] ?? []);
    const replayed = applyEvents(snapshot, log.slice(at));
    expect(replayed.tasks).toEqual(final.tasks);
    expect(replayed.seq).toBe(6);
  });

  it("a snapshot newer than its seq (taken a moment later) converges too", () => {
    const snapshot = initialState("me", makeBoard({ seq: 2 }), [t1v2, t3v1]); // tasks read after seq 6
    expect(applyEvents(snapshot, log.slice(2)).tasks).toEqual(final.tasks);
  });
});
