import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { useMe } from "../app/ServicesContext";
import { countOf, filterColumns, updateColumns, withoutTasks, type Columns, type ColumnsSnapshot, type FilterCache } from "../board/columns";
import { isFiltering, NO_FILTER, type TaskFilter } from "../board/filters";
import type { BoardColumn, Task } from "../api/types";
import { layoutOf, type Layout } from "../board/position";
import { canEditTasks, myRole } from "../live/reducer";
import { useBoardSync } from "../live/useBoardSync";
import { Alert } from "../components/Alert";
import { usePageTitle } from "../components/usePageTitle";
import { WatchButton } from "../components/WatchButton";
import { AccessLost } from "../components/board/AccessLost";
import { BoardColumns } from "../components/board/BoardColumns";
import { BoardSettings } from "../components/board/BoardSettings";
import { ColumnsDialog } from "../components/board/ColumnsDialog";
import { MembersPanel } from "../components/board/MembersPanel";
import { Webhooks } from "../components/board/Webhooks";
import { PresenceBar } from "../components/board/PresenceBar";
import { TaskDetail } from "../components/board/TaskDetail";
import { TaskFilters } from "../components/board/TaskFilters";
import { useTaskActions } from "../components/board/useTaskActions";
import { UndoToasts } from "../components/board/UndoToasts";
import { useUndoableDelete } from "../components/board/useUndoableDelete";

export default function BoardPage() {
  const { boardId = "", taskId } = useParams();
  const navigate = useNavigate();
  const me = useMe();
  const { view, sync } = useBoardSync(boardId);
  const [filter, setFilter] = useState<TaskFilter>(NO_FILTER);
  const [showSettings, setShowSettings] = useState(false);
  // `#webhooks` (where a notification of a disabled webhook leads): the settings open on the
  // Webhooks section, read afresh (a new key) each time it is asked for.
  const location = useLocation();
  const [webhooksAsked, setWebhooksAsked] = useState(0);
  const [focusWebhooks, setFocusWebhooks] = useState(false);
  const webhooksFocused = useCallback(() => setFocusWebhooks(false), []);
  useEffect(() => {
    if (location.hash !== "#webhooks") return;
    setShowSettings(true);
    setWebhooksAsked((n) => n + 1);
    setFocusWebhooks(true);
  }, [location.key, location.hash]);
  const [managingColumns, setManagingColumns] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const [moveError, setMoveError] = useState<string | null>(null);
  const actions = useTaskActions(sync, setMoveError);
  const deletes = useUndoableDelete(sync);
  const state = view.state;
  usePageTitle(state?.board.name ?? "Board");

  const layout = useMemo(() => layoutOf(state?.board.columns ?? NO_COLUMNS), [state?.board.columns]);
  const columns = useColumns(state?.tasks ?? NO_TASKS, layout);
  const shown = useFilteredColumns(columns, filter, deletes.hidden);
  const editingNames = useMemo(() => {
    const names: Record<string, string[]> = {};
    const nameOf = (id: string) =>
      view.presence.find((p) => p.user_id === id)?.name ?? state?.board.members.find((m) => m.user_id === id)?.name ?? "Someone";
    for (const [task, users] of Object.entries(view.editing)) names[task] = users.map(nameOf);
    return names;
  }, [view.editing, view.presence, state]);
  const closeTask = useCallback(() => navigate(`/boards/${boardId}`), [navigate, boardId]);
  // When the task dialog closes, focus goes back to its card (or, if that is gone, the heading).
  const lastTask = useRef<string | undefined>(taskId);
  useEffect(() => {
    const closed = lastTask.current;
    lastTask.current = taskId;
    if (!closed || taskId) return;
    const frame = requestAnimationFrame(() => {
      const link = document.querySelector<HTMLElement>(`[data-task-id="${CSS.escape(closed)}"] .task-title`);
      if (link) link.focus();
      else if (!document.activeElement || document.activeElement === document.body) {
        document.querySelector<HTMLElement>("main h1")?.focus();
      }
    });
    return () => cancelAnimationFrame(frame);
  }, [taskId]);

  if (view.phase === "error") {
    return (
      <section>
        <h1>Board unavailable</h1>
        <Alert>{view.error}</Alert>
        <p>
          <Link to="/boards">Back to your boards</Link>
        </p>
      </section>
    );
  }
  if (!state || !sync) return <p className="loading">Loading board…</p>;
  if (state.access !== "ok") return <AccessLost access={state.access} boardName={state.board.name} />;

  const role = myRole(state);
  const canEdit = canEditTasks(state);
  const isOwner = role === "owner";

  return (
    <div className="board-page" data-seq={state.seq} data-loading={view.loadingTasks || undefined}>
      <div className="board-header">
        <div>
          <h1 tabIndex={-1}>{state.board.name}</h1>
          {state.board.description && <p className="board-description">{state.board.description}</p>}
          <p className="muted">
            Your role: {role ?? "unknown"}
            {view.resyncing && " · Refreshing…"}
          </p>
        </div>
        <div className="board-header-end">
          <PresenceBar users={view.presence} me={me.id} />
          <WatchButton boardId={boardId} />
          {canEdit && (
            <button type="button" className="button-secondary" aria-haspopup="dialog" onClick={() => setManagingColumns(true)}>
              Manage columns
            </button>
          )}
          <button type="button" className="button-secondary" aria-expanded={showSettings} aria-controls="board-settings"
            onClick={() => setShowSettings((s) => !s)}>
            {showSettings ? "Hide settings and members" : "Settings and members"}
          </button>
        </div>
      </div>
      {showSettings && (
        <div id="board-settings" className="settings-panels">
          <BoardSettings board={state.board} canRename={canEdit} isOwner={isOwner} />
          <MembersPanel board={state.board} me={me.id} isOwner={isOwner} onLeft={() => navigate("/boards")} />
          {isOwner && (
            <Webhooks key={`${boardId}:${webhooksAsked}`} boardId={boardId} focus={focusWebhooks} onFocused={webhooksFocused} />
          )}
        </div>
      )}
      <TaskFilters filter={filter} onChange={setFilter} members={state.board.members}
        shown={countOf(shown)} total={countOf(columns)} />
      {view.loadingTasks && (
        <p className="muted" role="status">
          Loading tasks… {countOf(columns)} so far
        </p>
      )}
      <Alert>{moveError}</Alert>
      {!canEdit && <p className="muted">You can view this board; only editors and the owner can change tasks.</p>}
      <BoardColumns boardId={boardId} columns={shown} layout={layout} members={state.board.members}
        editingNames={editingNames} canEdit={canEdit} actions={actions} announce={setAnnouncement} />
      <p className="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </p>
      {managingColumns && canEdit && (
        <ColumnsDialog board={state.board} counts={countsOf(columns)} onClose={() => setManagingColumns(false)} />
      )}
      {taskId && (
        <TaskDetail key={taskId} taskId={taskId} state={state} sync={sync} canEdit={canEdit}
          editingBy={editingNames[taskId] ?? []} actions={actions} onClose={closeTask} onDelete={deletes.remove} />
      )}
      <UndoToasts deletes={deletes} />
    </div>
  );
}

const NO_TASKS: Readonly<Record<string, Task>> = {};
const NO_COLUMNS: BoardColumn[] = [];

function countsOf(columns: Columns): Record<string, number> {
  return Object.fromEntries(Object.entries(columns).map(([id, tasks]) => [id, tasks.length]));
}

/** The board's columns, patched (not rebuilt) when a live event changes a task or two. */
function useColumns(tasks: Readonly<Record<string, Task>>, layout: Layout): Columns {
  const last = useRef<ColumnsSnapshot | null>(null);
  return useMemo(() => {
    const columns = updateColumns(last.current, tasks, layout);
    last.current = { tasks, layout, columns };
    return columns;
  }, [tasks, layout]);
}

/**
 * The columns as the filter shows them, without the tasks whose deletion can still be
 * undone; unchanged columns keep their filtered arrays.
 */
function useFilteredColumns(columns: Columns, filter: TaskFilter, hidden: ReadonlySet<string>): Columns {
  const last = useRef<FilterCache | null>(null);
  const filtered = useMemo(() => {
    if (!isFiltering(filter)) return columns;
    const result = filterColumns(columns, filter, last.current);
    last.current = { filter, source: columns, result };
    return result;
  }, [columns, filter]);
  return useMemo(() => (hidden.size === 0 ? filtered : withoutTasks(filtered, hidden)), [filtered, hidden]);
}
