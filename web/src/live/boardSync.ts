/**
 * Keeps one open board in step with the server: a snapshot (board + tasks), then its
 * live events in seq order. On every (re)connect it joins with `since: lastSeq` and
 * applies what it missed; a gap that stays open is filled from the event log; when
 * the server says the gap is too old it refetches everything.
 */
import type { Attachment, Board, BoardEvent, Comment, EventsPage, PresenceUser, Task } from "../api/types";
import { BOARD_EVENT_TYPES } from "../api/types";
import type { LiveChannel } from "./connection";
import { EventBuffer } from "./eventBuffer";
import {
  addComment,
  applyEvents,
  initialState,
  mergeTasks,
  removeAttachment,
  setAttachments,
  upsertAttachment,
  removeComment,
  removeTask,
  setComments,
  upsertTask,
  type BoardState,
} from "./reducer";

export interface BoardSyncDeps {
  boardId: string;
  me: string;
  channel: LiveChannel;
  /** The board (its `seq` says which events the tasks read after it may already reflect). */
  loadBoard: () => Promise<Board>;
  /** Every task of the board, handed over page by page as each arrives. */
  loadTasks: (onPage: (tasks: Task[]) => void) => Promise<void>;
  /** Events after `since`, which counts in `epoch` (a 410 when the board's log is in another). */
  fetchEvents: (since: number, epoch?: string) => Promise<EventsPage>;
  /** How long a gap may stay open before the log is asked for it. */
  gapGraceMs?: number;
  now?: () => number;
}

export interface BoardView {
  phase: "loading" | "ready" | "error";
  error: string | null;
  state: BoardState | null;
  presence: PresenceUser[];
  /** task id -> ids of the other users editing it now. */
  editing: Record<string, string[]>;
  /** True while a full refetch is running. */
  resyncing: boolean;
  /** True while the first load's task pages are still arriving (the board is usable meanwhile). */
  loadingTasks: boolean;
}

interface JoinAck {
  ok: boolean;
  seq?: number;
  epoch?: string;
  events?: BoardEvent[];
  presence?: PresenceUser[];
  resync?: boolean;
  error?: { status?: number; code?: string; title?: string };
}

interface EditingMessage {
  task_id: string;
  user_id: string;
  editing: boolean;
}

const MAX_EVENT_PAGES = 1000;

export class BoardSync {
  private view: BoardView = {
    phase: "loading", error: null, state: null, presence: [], editing: {}, resyncing: false, loadingTasks: false,
  };
  private buffer = new EventBuffer<BoardEvent>(0);
  /** The epoch lastSeq counts in (from the board and the join acks); unknown before the first load. */
  private epoch: string | undefined;
  /** Events that arrived while no snapshot could take them (loading, resyncing). */
  private held: BoardEvent[] = [];
  private snapshotting = false;
  private filling = false;
  private gapTimer: ReturnType<typeof setTimeout> | null = null;
  private joinGeneration = 0;
  private stopped = false;
  private myEditing: string | null = null;
  /** Bumped by every snapshot: pages of an older one are dropped. */
  private loadGeneration = 0;
  /** While the first load streams in: tasks deleted since it began, which its pages must not bring back. */
  private deletedDuringLoad: Set<string> | null = null;
  private readonly unsubscribers: (() => void)[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private readonly deps: BoardSyncDeps) {}

  getView = (): BoardView => this.view;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  get lastSeq(): number {
    return this.buffer.lastSeq;
  }

  /** Loads the board and starts following it. */
  async start(): Promise<void> {
    const { channel } = this.deps;
    for (const type of BOARD_EVENT_TYPES) {
      this.unsubscribers.push(channel.on(type, (payload) => this.receive([payload as BoardEvent])));
    }
    this.unsubscribers.push(
      channel.on("presence", (p) => this.onPresence(p as { board_id: string; users: PresenceUser[] })),
      channel.on("task:editing", (p) => this.onEditing(p as EditingMessage)),
      // The server's event log lacks events we have not seen (a hole): only a refetch helps.
      channel.on("board:resync", (p) => {
        if ((p as { board_id?: string }).board_id === this.deps.boardId) void this.snapshot();
      }),
      channel.onConnect(() => void this.join()),
    );
    // The first snapshot joins as soon as the board is shown, while its tasks still arrive.
    await this.snapshot();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.myEditing) this.setEditing(this.myEditing, false);
    for (const off of this.unsubscribers.splice(0)) off();
    if (this.gapTimer) clearTimeout(this.gapTimer);
    if (this.deps.channel.connected) {
      this.deps.channel.request("board:leave", { board_id: this.deps.boardId }, 5000).catch(() => undefined);
    }
    this.listeners.clear();
  }

  // ---- local changes (REST responses), applied at once instead of waiting for their event

  applyLocalTask(task: Task): void {
    this.update((s) => upsertTask(s, task));
  }

  removeLocalTask(taskId: string): void {
    this.deletedDuringLoad?.add(taskId);
    this.update((s) => removeTask(s, taskId));
  }

  setComments(taskId: string, comments: Comment[]): void {
    this.update((s) => setComments(s, taskId, comments));
  }

  setAttachments(taskId: string, list: Attachment[]): void {
    this.update((s) => setAttachments(s, taskId, list));
  }

  addLocalAttachment(attachment: Attachment): void {
    this.update((s) => upsertAttachment(s, attachment));
  }

  removeLocalAttachment(taskId: string, id: string): void {
    this.update((s) => removeAttachment(s, taskId, id));
  }

  addLocalComment(comment: Comment): void {
    this.update((s) => addComment(s, comment));
  }

  removeLocalComment(taskId: string, commentId: string): void {
    this.update((s) => removeComment(s, taskId, commentId));
  }

  /** Tells the other viewers that we are (no longer) editing a task. */
  setEditing(taskId: string, editing: boolean): void {
    this.myEditing = editing ? taskId : this.myEditing === taskId ? null : this.myEditing;
    this.deps.channel.send("task:editing", { task_id: taskId, editing });
  }

  // ---- the protocol

  private async join(): Promise<void> {
    if (this.stopped || this.view.phase !== "ready" || !this.deps.channel.connected) return;
    const generation = ++this.joinGeneration;
    // Whoever was editing before the reconnect tells us again; stale marks would stick otherwise.
    this.setView({ editing: {} });
    let ack: JoinAck;
    try {
      ack = (await this.deps.channel.request("board:join", {
        board_id: this.deps.boardId,
        since: this.buffer.lastSeq,
        ...(this.epoch ? { epoch: this.epoch } : {}),
      })) as JoinAck;
    } catch {
      return; // timed out or disconnected: the next connect joins again
    }
    if (generation !== this.joinGeneration || this.stopped) return;
    if (!ack.ok) {
      if (ack.error?.status === 404) this.loseAccess("removed");
      return;
    }
    if (ack.presence) this.setView({ presence: ack.presence });
    if (this.myEditing) this.deps.channel.send("task:editing", { task_id: this.myEditing, editing: true });
    if (ack.resync) {
      await this.snapshot();
      return;
    }
    if (ack.epoch) this.epoch = ack.epoch;
    this.receive(ack.events ?? []);
    if (typeof ack.seq === "number" && ack.seq > this.buffer.lastSeq && !this.buffer.hasGap()) {
      void this.fillGap(); // the ack knows of events it did not carry
    }
  }

  private receive(events: BoardEvent[]): void {
    const mine = events.filter((e) => e && e.board_id === this.deps.boardId);
    if (mine.length === 0 || this.stopped) return;
    if (this.snapshotting || !this.view.state) {
      this.held.push(...mine);
      return;
    }
    this.apply(this.buffer.pushAll(mine, this.now()));
    if (this.buffer.hasGap()) this.scheduleGapFill();
    this.afterApply();
  }

  private apply(ready: BoardEvent[]): void {
    if (ready.length === 0) return;
    if (this.deletedDuringLoad) {
      for (const e of ready) if (e.type === "task:deleted") this.deletedDuringLoad.add(e.data.id);
    }
    this.update((s) => applyEvents(s, ready));
  }

  private scheduleGapFill(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.buffer.hasGap()) void this.fillGap();
    }, this.deps.gapGraceMs ?? 300);
  }

  /** Reads the event log from lastSeq on, page by page, until caught up. */
  private async fillGap(): Promise<void> {
    if (this.filling || this.snapshotting || this.stopped) return;
    this.filling = true;
    try {
      for (let i = 0; i < MAX_EVENT_PAGES; i++) {
        const since = this.buffer.lastSeq;
        const page = await this.deps.fetchEvents(since, this.epoch);
        if (this.stopped || this.snapshotting) return;
        this.apply(this.buffer.pushAll(page.items, this.now()));
        this.afterApply();
        if (page.items.length === 0 || this.buffer.lastSeq >= page.latest_seq || this.buffer.lastSeq === since) break;
      }
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 410) {
        this.filling = false;
        await this.snapshot();
        return;
      }
      if (status === 404) this.loseAccess("removed");
      else if (this.buffer.hasGap()) this.scheduleGapFill(); // network trouble: try again shortly
    } finally {
      this.filling = false;
    }
  }

  /**
   * Loads board and tasks. The first time, the board shows as soon as it is read and the
   * tasks stream in column by column while live events apply on top (the reducer keeps the
   * newest version; deletions seen meanwhile are remembered so a late page can't revive
   * them). A later refetch (resync) builds the new state aside, holding events meanwhile,
   * and swaps it in whole.
   */
  private async snapshot(): Promise<void> {
    if (this.snapshotting || this.stopped) return;
    this.snapshotting = true;
    const generation = ++this.loadGeneration;
    const first = this.view.state === null;
    this.deletedDuringLoad = null;
    this.setView({ resyncing: !first, loadingTasks: false });
    try {
      // Board first: the tasks read after it are at least as new as board.seq, and the
      // events after it are replayed on top, which is harmless for what they already show.
      const board = await this.deps.loadBoard();
      if (this.stopped || generation !== this.loadGeneration) return;
      if (first) {
        await this.streamFirstLoad(board, generation);
        return;
      }
      const tasks: Task[] = [];
      await this.deps.loadTasks((page) => tasks.push(...page));
      if (this.stopped || generation !== this.loadGeneration) return;
      let state = initialState(this.deps.me, board, tasks);
      const carried = [...this.buffer.heldEvents(), ...this.held.splice(0)];
      this.buffer = new EventBuffer<BoardEvent>(board.seq);
      this.epoch = board.epoch; // the seq and its epoch change together
      state = applyEvents(state, this.buffer.pushAll(carried, this.now()));
      this.setView({ phase: "ready", error: null, state, resyncing: false });
      this.snapshotting = false;
      if (this.buffer.hasGap()) this.scheduleGapFill();
      this.afterApply();
    } catch (err) {
      if (generation !== this.loadGeneration) return;
      this.snapshotting = false;
      this.deletedDuringLoad = null;
      const status = (err as { status?: number }).status;
      if (status === 404 && this.view.state) this.loseAccess("removed");
      else if (!this.view.state) {
        this.setView({ phase: "error", error: err instanceof Error ? err.message : String(err), resyncing: false });
      } else {
        this.setView({ resyncing: false, loadingTasks: false });
        if (first) this.retrySnapshotLater(); // the board is up but some tasks never came
      }
    }
  }

  private async streamFirstLoad(board: Board, generation: number): Promise<void> {
    this.buffer = new EventBuffer<BoardEvent>(board.seq);
    this.epoch = board.epoch;
    this.deletedDuringLoad = new Set();
    const deleted = this.deletedDuringLoad;
    const carried = this.held.splice(0);
    this.snapshotting = false;
    this.setView({ phase: "ready", error: null, state: initialState(this.deps.me, board, []), loadingTasks: true });
    this.apply(this.buffer.pushAll(carried, this.now()));
    if (this.deps.channel.connected) void this.join();
    try {
      await this.deps.loadTasks((page) => {
        if (generation === this.loadGeneration && !this.stopped) this.update((s) => mergeTasks(s, page, deleted));
      });
    } finally {
      if (this.deletedDuringLoad === deleted) this.deletedDuringLoad = null;
    }
    if (generation !== this.loadGeneration || this.stopped) return;
    this.setView({ loadingTasks: false });
    if (this.buffer.hasGap()) this.scheduleGapFill();
    this.afterApply();
  }

  private retrySnapshotLater(): void {
    setTimeout(() => {
      if (!this.stopped) void this.snapshot();
    }, 2000);
  }

  private afterApply(): void {
    const state = this.view.state;
    if (state && state.access !== "ok") this.loseAccess(state.access);
  }

  private loseAccess(access: "removed" | "deleted"): void {
    const state = this.view.state;
    if (state && state.access !== access) this.setView({ state: { ...state, access } });
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = null;
    this.myEditing = null;
    this.setView({ presence: [], editing: {} });
  }

  private onPresence(p: { board_id: string; users: PresenceUser[] }): void {
    if (!p || p.board_id !== this.deps.boardId) return;
    const present = new Set(p.users.map((u) => u.user_id));
    const editing: Record<string, string[]> = {};
    for (const [taskId, users] of Object.entries(this.view.editing)) {
      const still = users.filter((u) => present.has(u));
      if (still.length > 0) editing[taskId] = still;
    }
    this.setView({ presence: p.users, editing });
  }

  private onEditing(m: EditingMessage): void {
    const state = this.view.state;
    if (!m || !state || !(m.task_id in state.tasks) || m.user_id === this.deps.me) return;
    const users = (this.view.editing[m.task_id] ?? []).filter((u) => u !== m.user_id);
    if (m.editing) users.push(m.user_id);
    const editing = { ...this.view.editing };
    if (users.length > 0) editing[m.task_id] = users;
    else delete editing[m.task_id];
    this.setView({ editing });
  }

  private update(fn: (s: BoardState) => BoardState): void {
    const state = this.view.state;
    if (!state) return;
    const next = fn(state);
    if (next !== state) this.setView({ state: next });
  }

  private setView(patch: Partial<BoardView>): void {
    this.view = { ...this.view, ...patch };
    for (const fn of [...this.listeners]) fn();
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
