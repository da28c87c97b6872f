import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { BoardEvent, EventsPage, Task } from "../api/types";
import { ev, makeBoard, makeTask } from "../test/factories";
import type { Board } from "../api/types";
import { BoardSync } from "./boardSync";

interface Snapshot {
  board: Board;
  tasks: Task[];
}
import type { LiveChannel } from "./connection";

/** The server side of the live channel, as far as a board sync can tell. */
class FakeChannel implements LiveChannel {
  connected = true;
  joins: { board_id: string; since: number; epoch?: string }[] = [];
  sent: { event: string; payload: unknown }[] = [];
  ackFor: (since: number) => unknown = (since) => ({ ok: true, seq: since, events: [], presence: [] });
  private connectFns = new Set<() => void>();
  private handlers = new Map<string, Set<(p: unknown) => void>>();

  onConnect(fn: () => void) {
    this.connectFns.add(fn);
    return () => this.connectFns.delete(fn);
  }
  on(event: string, fn: (p: unknown) => void) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(fn);
    return () => this.handlers.get(event)!.delete(fn);
  }
  async request(event: string, payload: unknown) {
    if (event === "board:join") {
      const p = payload as { board_id: string; since: number; epoch?: string };
      this.joins.push(p);
      return this.ackFor(p.since);
    }
    return { ok: true };
  }
  send(event: string, payload: unknown) {
    this.sent.push({ event, payload });
  }
  emit(event: string, payload: unknown) {
    for (const fn of this.handlers.get(event) ?? []) fn(payload);
  }
  deliver(e: BoardEvent) {
    this.emit(e.type, e);
  }
  reconnect() {
    this.connected = true;
    for (const fn of this.connectFns) fn();
  }
  listenerCount() {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }
}

const flush = () => vi.advanceTimersByTimeAsync(1);

function setup(opts: { seq?: number; tasks?: Task[]; log?: BoardEvent[] } = {}) {
  const channel = new FakeChannel();
  const log = opts.log ?? [];
  let snapshot: Snapshot = { board: makeBoard({ seq: opts.seq ?? 0 }), tasks: opts.tasks ?? [] };
  // One board read per snapshot; its tasks follow in pages of two, as the real stream does.
  const loadSnapshot = vi.fn(async () => snapshot.board);
  const loadTasks = vi.fn(async (onPage: (tasks: Task[]) => void) => {
    const tasks = snapshot.tasks;
    for (let i = 0; i < tasks.length; i += 2) onPage(tasks.slice(i, i + 2));
  });
  const fetchEvents = vi.fn(async (since: number, _epoch?: string): Promise<EventsPage> => {
    const items = log.filter((e) => e.seq > since).slice(0, 2); // small pages: exercise paging
    return { items, latest_seq: log.at(-1)?.seq ?? since, epoch: snapshot.board.epoch };
  });
  const sync = new BoardSync({ boardId: "b1", me: "me", channel, loadBoard: loadSnapshot, loadTasks, fetchEvents, gapGraceMs: 50 });
  return {
    channel,
    sync,
    loadSnapshot,
    loadTasks,
    fetchEvents,
    setSnapshot: (s: Snapshot) => (snapshot = s),
    tasks: () => Object.keys(sync.getView().state?.tasks ?? {}).sort(),
  };
}

const created = (seq: number, id: string) => ev(seq, "task:created", makeTask({ id }));

describe("BoardSync", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("loads a snapshot, then joins with since = the board's seq", async () => {
    const t = setup({ seq: 5, tasks: [makeTask({ id: "t1" })] });
    await t.sync.start();
    expect(t.sync.getView().phase).toBe("ready");
    expect(t.tasks()).toEqual(["t1"]);
    expect(t.channel.joins).toEqual([{ board_id: "b1", since: 5, epoch: "e1" }]);
  });

  it("after a restore (a new epoch) the join's resync refetches, and later joins and pages use the new epoch", async () => {
    const log = [created(1, "a"), created(2, "b"), created(3, "c")];
    const t = setup({ seq: 40, tasks: [makeTask({ id: "old" })], log });
    await t.sync.start();
    // The store came back from a backup: seq 3 in epoch e2; since 40 of e1 means nothing there.
    t.setSnapshot({ board: makeBoard({ seq: 3, epoch: "e2" }), tasks: [makeTask({ id: "restored" })] });
    t.channel.ackFor = () => ({ ok: true, seq: 3, epoch: "e2", resync: true, presence: [] });
    t.channel.reconnect();
    await vi.waitFor(() => expect(t.tasks()).toEqual(["restored"]));
    expect(t.channel.joins.at(-1)).toEqual({ board_id: "b1", since: 40, epoch: "e1" });
    expect(t.sync.lastSeq).toBe(3);
    t.channel.ackFor = (since) => ({ ok: true, seq: since, epoch: "e2", events: [], presence: [] });
    t.channel.reconnect();
    await vi.waitFor(() => expect(t.channel.joins.at(-1)).toEqual({ board_id: "b1", since: 3, epoch: "e2" }));
    t.channel.deliver(created(5, "gap"));
    await vi.advanceTimersByTimeAsync(60);
    await vi.waitFor(() => expect(t.fetchEvents).toHaveBeenCalled());
    expect(t.fetchEvents.mock.calls.at(-1)).toEqual([3, "e2"]);
  });

  it("applies the events the join ack carries, and its presence", async () => {
    const t = setup({ seq: 5 });
    t.channel.ackFor = () => ({ ok: true, seq: 7, events: [created(7, "b"), created(6, "a")], presence: [{ user_id: "other", name: "O" }] });
    await t.sync.start();
    expect(t.tasks()).toEqual(["a", "b"]);
    expect(t.sync.lastSeq).toBe(7);
    expect(t.sync.getView().presence).toEqual([{ user_id: "other", name: "O" }]);
  });

  it("applies live events in seq order, buffering early arrivals and ignoring duplicates", async () => {
    const t = setup();
    await t.sync.start();
    t.channel.deliver(created(2, "b"));
    expect(t.tasks()).toEqual([]);
    t.channel.deliver(created(1, "a"));
    t.channel.deliver(created(1, "a"));
    expect(t.tasks()).toEqual(["a", "b"]);
    expect(t.sync.lastSeq).toBe(2);
    expect(t.fetchEvents).not.toHaveBeenCalled();
  });

  it("ignores events of other boards", async () => {
    const t = setup();
    await t.sync.start();
    t.channel.deliver(ev(1, "task:created", makeTask({ id: "x", board_id: "b2" }), "b2"));
    expect(t.sync.lastSeq).toBe(0);
  });

  it("fills a gap that persists from the event log, paging by since", async () => {
    const log = [created(1, "a"), created(2, "b"), created(3, "c"), created(4, "d"), created(5, "e")];
    const t = setup({ log });
    await t.sync.start();
    t.channel.deliver(log[4]!); // 5 arrives, 1..4 never do
    expect(t.tasks()).toEqual([]);
    await vi.advanceTimersByTimeAsync(60);
    await vi.waitFor(() => expect(t.sync.lastSeq).toBe(5));
    expect(t.tasks()).toEqual(["a", "b", "c", "d", "e"]);
    // 1-2, then 3-4; the held 5 then follows on and catches up with latest_seq: no third page.
    expect(t.fetchEvents.mock.calls.map((c) => c[0])).toEqual([0, 2]);
  });

  it("does not fetch when the gap closes within the grace period", async () => {
    const t = setup();
    await t.sync.start();
    t.channel.deliver(created(2, "b"));
    await vi.advanceTimersByTimeAsync(20);
    t.channel.deliver(created(1, "a"));
    await vi.advanceTimersByTimeAsync(100);
    expect(t.fetchEvents).not.toHaveBeenCalled();
    expect(t.tasks()).toEqual(["a", "b"]);
  });

  it("refetches everything when the log no longer has the gap (410 events_gone)", async () => {
    const t = setup();
    await t.sync.start();
    t.fetchEvents.mockRejectedValueOnce(new ApiError(410, { code: "events_gone", latest_seq: 900 }));
    t.setSnapshot({ board: makeBoard({ seq: 900 }), tasks: [makeTask({ id: "fresh" })] });
    t.channel.deliver(created(901, "late"));
    await vi.advanceTimersByTimeAsync(60);
    await vi.waitFor(() => expect(t.sync.lastSeq).toBe(901));
    expect(t.tasks()).toEqual(["fresh", "late"]);
    expect(t.loadSnapshot).toHaveBeenCalledTimes(2);
  });

  it("rejoins on every reconnect with since = last applied seq, getting what it missed", async () => {
    const t = setup({ seq: 3 });
    await t.sync.start();
    t.channel.deliver(created(4, "a"));
    t.channel.connected = false;
    t.channel.ackFor = (since) => ({ ok: true, seq: 6, events: [created(5, "b"), created(6, "c")].filter((e) => e.seq > since), presence: [] });
    t.channel.reconnect();
    await flush();
    expect(t.channel.joins.map((j) => j.since)).toEqual([3, 4]);
    expect(t.tasks()).toEqual(["a", "b", "c"]);
  });

  it("on a resync ack, refetches the board and its tasks", async () => {
    const t = setup({ seq: 3, tasks: [makeTask({ id: "old" })] });
    await t.sync.start();
    t.setSnapshot({ board: makeBoard({ seq: 50_000, name: "Renamed" }), tasks: [makeTask({ id: "new" })] });
    t.channel.ackFor = () => ({ ok: true, seq: 50_000, resync: true });
    t.channel.reconnect();
    await flush();
    expect(t.tasks()).toEqual(["new"]);
    expect(t.sync.lastSeq).toBe(50_000);
    expect(t.sync.getView().state?.board.name).toBe("Renamed");
  });

  it("on a board:resync event for its board, refetches; for another board, does nothing", async () => {
    const t = setup({ seq: 3, tasks: [makeTask({ id: "old" })] });
    await t.sync.start();
    t.setSnapshot({ board: makeBoard({ seq: 9 }), tasks: [makeTask({ id: "new" })] });
    t.channel.emit("board:resync", { board_id: "elsewhere", seq: 8 });
    await flush();
    expect(t.tasks()).toEqual(["old"]);
    t.channel.emit("board:resync", { board_id: makeBoard().id, seq: 8 });
    await flush();
    expect(t.tasks()).toEqual(["new"]);
    expect(t.sync.lastSeq).toBe(9);
    t.channel.deliver(created(10, "after"));
    await flush();
    expect([...t.tasks()].sort()).toEqual(["after", "new"]);
    expect(t.sync.lastSeq).toBe(10);
  });

  it("events that arrive during a resync are applied after it, not lost", async () => {
    const t = setup({ seq: 3 });
    await t.sync.start();
    let release!: () => void;
    t.loadSnapshot.mockImplementationOnce(
      () =>
        new Promise<Board>((r) => {
          t.setSnapshot({ board: makeBoard({ seq: 10 }), tasks: [] });
          release = () => r(makeBoard({ seq: 10 }));
        }),
    );
    t.channel.ackFor = () => ({ ok: true, seq: 10, resync: true });
    t.channel.reconnect();
    await flush();
    expect(t.sync.getView().resyncing).toBe(true);
    t.channel.deliver(created(11, "during"));
    t.channel.deliver(created(10, "covered")); // already in the snapshot
    release();
    await flush();
    expect(t.tasks()).toEqual(["during"]);
    expect(t.sync.lastSeq).toBe(11);
  });

  it("fetches the rest when the ack's seq is beyond the events it carried", async () => {
    const log = [created(1, "a"), created(2, "b"), created(3, "c")];
    const t = setup({ log });
    t.channel.ackFor = () => ({ ok: true, seq: 3, events: [log[0]], presence: [] });
    await t.sync.start();
    await vi.waitFor(() => expect(t.sync.lastSeq).toBe(3));
    expect(t.tasks()).toEqual(["a", "b", "c"]);
  });

  it("a member removed (me) loses access: the view says so and stops showing presence", async () => {
    const t = setup();
    await t.sync.start();
    t.channel.emit("presence", { board_id: "b1", users: [{ user_id: "other", name: "O" }] });
    t.channel.deliver(ev(1, "member:removed", { user_id: "me" }));
    const view = t.sync.getView();
    expect(view.state?.access).toBe("removed");
    expect(view.presence).toEqual([]);
    t.channel.deliver(created(2, "after"));
    expect(t.tasks()).toEqual([]);
  });

  it("a join refused with 404 means the board is out of reach", async () => {
    const t = setup();
    t.channel.ackFor = () => ({ ok: false, error: { status: 404, code: "not_found", title: "Not found" } });
    await t.sync.start();
    expect(t.sync.getView().state?.access).toBe("removed");
  });

  it("board:deleted marks the board deleted", async () => {
    const t = setup();
    await t.sync.start();
    t.channel.deliver(ev(1, "board:deleted", { id: "b1" }));
    expect(t.sync.getView().state?.access).toBe("deleted");
  });

  it("tracks who is editing which task; presence changes prune it; reconnects reset it", async () => {
    const t = setup({ tasks: [makeTask({ id: "t1" })] });
    await t.sync.start();
    t.channel.emit("task:editing", { task_id: "t1", user_id: "other", editing: true });
    t.channel.emit("task:editing", { task_id: "t1", user_id: "me", editing: true }); // our own echo
    t.channel.emit("task:editing", { task_id: "unknown", user_id: "other", editing: true });
    expect(t.sync.getView().editing).toEqual({ t1: ["other"] });
    t.channel.emit("presence", { board_id: "b1", users: [{ user_id: "me", name: "Me" }] });
    expect(t.sync.getView().editing).toEqual({});
    t.channel.emit("task:editing", { task_id: "t1", user_id: "other", editing: true });
    t.channel.emit("task:editing", { task_id: "t1", user_id: "other", editing: false });
    expect(t.sync.getView().editing).toEqual({});
  });

  it("announces our own editing, and again after a reconnect", async () => {
    const t = setup({ tasks: [makeTask({ id: "t1" })] });
    await t.sync.start();
    t.sync.setEditing("t1", true);
    t.channel.reconnect();
    await flush();
    expect(t.channel.sent).toEqual([
      { event: "task:editing", payload: { task_id: "t1", editing: true } },
      { event: "task:editing", payload: { task_id: "t1", editing: true } },
    ]);
    t.sync.stop();
    expect(t.channel.sent.at(-1)).toEqual({ event: "task:editing", payload: { task_id: "t1", editing: false } });
  });

  it("local REST results apply at once and a late, older event doesn't undo them", async () => {
    const t = setup({ tasks: [makeTask({ id: "t1", title: "v1" })] });
    await t.sync.start();
    t.sync.applyLocalTask(makeTask({ id: "t1", title: "mine", version: 3 }));
    t.channel.deliver(ev(1, "task:updated", makeTask({ id: "t1", title: "v2", version: 2 })));
    expect(t.sync.getView().state?.tasks.t1?.title).toBe("mine");
  });

  it("the first load shows the board at once and streams its tasks; live events apply meanwhile", async () => {
    const t = setup({ seq: 4 });
    const pages: ((tasks: Task[]) => void)[] = [];
    let finish!: () => void;
    t.loadTasks.mockImplementationOnce(
      (onPage) =>
        new Promise<void>((resolve) => {
          pages.push(onPage);
          finish = resolve;
        }),
    );
    const started = t.sync.start();
    await flush();
    expect(t.sync.getView().phase).toBe("ready");
    expect(t.sync.getView().loadingTasks).toBe(true);
    expect(t.channel.joins).toEqual([{ board_id: "b1", since: 4, epoch: "e1" }]); // joined before the tasks are in
    const onPage = pages[0]!;
    onPage([makeTask({ id: "a", title: "a v1", version: 1 }), makeTask({ id: "gone" })]);
    expect(t.tasks()).toEqual(["a", "gone"]);
    // Live, while later pages are still on their way: an edit, a deletion, a creation.
    t.channel.deliver(ev(5, "task:updated", makeTask({ id: "b", title: "b v3", version: 3 })));
    t.channel.deliver(ev(6, "task:deleted", { id: "late" }));
    t.channel.deliver(ev(7, "task:deleted", { id: "gone" }));
    expect(t.tasks()).toEqual(["a", "b"]);
    // A page read before those events: its older "b" and its "late" (deleted since) must not win.
    onPage([makeTask({ id: "b", title: "b v2", version: 2 }), makeTask({ id: "late" }), makeTask({ id: "c" })]);
    finish();
    await started;
    expect(t.tasks()).toEqual(["a", "b", "c"]);
    expect(t.sync.getView().state?.tasks.b?.title).toBe("b v3");
    expect(t.sync.getView().loadingTasks).toBe(false);
    expect(t.sync.lastSeq).toBe(7);
  });

  it("a first load whose task pages fail keeps the board and refetches it whole shortly after", async () => {
    const t = setup({ seq: 1, tasks: [makeTask({ id: "t1" })] });
    t.loadTasks.mockImplementationOnce(async (onPage) => {
      onPage([makeTask({ id: "t1" })]);
      throw new Error("network down");
    });
    await t.sync.start();
    expect(t.sync.getView().phase).toBe("ready");
    expect(t.sync.getView().loadingTasks).toBe(false);
    t.setSnapshot({ board: makeBoard({ seq: 1 }), tasks: [makeTask({ id: "t1" }), makeTask({ id: "t2" })] });
    await vi.advanceTimersByTimeAsync(2100);
    expect(t.tasks()).toEqual(["t1", "t2"]);
    expect(t.loadSnapshot).toHaveBeenCalledTimes(2);
  });

  it("stop() unsubscribes from the channel", async () => {
    const t = setup();
    await t.sync.start();
    t.sync.stop();
    expect(t.channel.listenerCount()).toBe(0);
  });
});
