import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type KeyboardEvent, type PointerEvent as ReactPointerEvent, type ReactNode } from "react";
import { useMediaQuery } from "../useMediaQuery";
import type { Member, Status, Task } from "../../api/types";
import { STATUSES, STATUS_LABELS } from "../../api/types";
import type { Columns } from "../../board/columns";
import { moveAcross, moveWithinColumn, positionAt, type Move } from "../../board/position";
import { Column, dropIndex, type FocusRequest } from "./Column";
import { NewTaskForm } from "./NewTaskForm";
import { CARD_KEYS_HINT_ID, type MoveDirection } from "./TaskCard";
import type { TaskActions } from "./useTaskActions";

/** Below this width the columns become tabs. */
export const NARROW_QUERY = "(max-width: 700px)";

interface Props {
  boardId: string;
  /** The columns as shown (filtered, when a filter is on). */
  columns: Columns;
  members: Member[];
  /** task id -> names of the others editing it */
  editingNames: Record<string, string[]>;
  canEdit: boolean;
  actions: TaskActions;
  announce: (message: string) => void;
}

/**
 * The three status columns; tasks move by drag and drop, by each card's move buttons, or
 * by Alt + arrow keys on a card (plain arrow keys go from card to card).
 */
export function BoardColumns({ boardId, columns, members, editingNames, canEdit, actions, announce }: Props) {
  const membersById = useMemo(() => new Map(members.map((m) => [m.user_id, m])), [members]);
  const [draggingId, setDraggingId] = useState<string | null>(null);
  const [focusRequest, setFocusRequest] = useState<FocusRequest | null>(null);
  // The handlers read the latest columns through a ref, so they keep their identity and
  // the memoized columns and cards don't re-render for every change elsewhere.
  const latest = useRef({ columns, actions, announce, draggingId });
  latest.current = { columns, actions, announce, draggingId };

  const moveTo = useCallback((task: Task, move: Move) => {
    const { columns: cols, actions: act, announce: say } = latest.current;
    if (move.status === task.status && move.position === task.position) return;
    const column = cols[move.status].filter((t) => t.id !== task.id);
    const place = column.filter((t) => t.position < move.position).length + 1;
    say(`Moved “${task.title}” to ${STATUS_LABELS[move.status]}, position ${place} of ${column.length + 1}.`);
    void act.move(task, move);
  }, []);

  const onMove = useCallback(
    (task: Task, dir: MoveDirection) => {
      const cols = latest.current.columns;
      const move =
        dir === "up" || dir === "down"
          ? moveWithinColumn(cols[task.status], task.id, dir === "up" ? -1 : 1)
          : moveAcross(cols, task, dir === "left" ? -1 : 1);
      if (!move) return;
      // Focus follows the card: to the same control, or to its title after Alt + arrow.
      setFocusRequest({ taskId: task.id, target: document.activeElement?.classList.contains("task-title") ? "card" : dir });
      moveTo(task, move);
    },
    [moveTo],
  );

  const onNavigate = useCallback((task: Task, dir: MoveDirection) => {
    const cols = latest.current.columns;
    const column = cols[task.status];
    const index = column.findIndex((t) => t.id === task.id);
    let target: Task | undefined;
    if (dir === "up") target = column[index - 1];
    else if (dir === "down") target = column[index + 1];
    else {
      // The nearest non-empty column that way, at the same height (or its last card).
      const step = dir === "left" ? -1 : 1;
      for (let s = STATUSES.indexOf(task.status) + step; s >= 0 && s < STATUSES.length && !target; s += step) {
        const other = cols[STATUSES[s]!];
        target = other[Math.min(index, other.length - 1)];
      }
    }
    if (target) setFocusRequest({ taskId: target.id, target: "card" });
  }, []);

  const onDrop = useCallback(
    (status: Status, index: number) => {
      const { columns: cols, draggingId: id } = latest.current;
      setDraggingId(null);
      const task = STATUSES.flatMap((s) => cols[s]).find((t) => t.id === id);
      if (!task) return;
      // Index k among the others is exactly where a task at k already sits.
      if (status === task.status && index === cols[status].indexOf(task)) return;
      moveTo(task, { status, position: positionAt(cols[status], task.id, index) });
    },
    [moveTo],
  );

  const onDragStart = useCallback((task: Task, e: DragEvent) => {
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", task.id);
    setDraggingId(task.id);
  }, []);
  const onDragEnd = useCallback(() => setDraggingId(null), []);

  // Touch drag, with pointer events (HTML5 drag and drop doesn't start from a finger): a card's
  // handle follows the finger; over a column it drops among its cards, over a column tab (phones)
  // it switches to that column.
  const [touchDrag, setTouchDrag] = useState<{ title: string; x: number; y: number; over: Status | null } | null>(null);
  const locate = (x: number, y: number): { status: Status; list: HTMLElement | null; tab: boolean } | null => {
    const el = document.elementFromPoint(x, y);
    const tab = el?.closest<HTMLElement>('[role="tab"][id^="tab-"]');
    if (tab) return { status: tab.id.slice(4) as Status, list: null, tab: true };
    const column = el?.closest<HTMLElement>("[data-status]");
    if (!column) return null;
    return { status: column.dataset.status as Status, list: column.querySelector<HTMLElement>(".task-list"), tab: false };
  };
  const onTouchDragStart = useCallback((task: Task, e: ReactPointerEvent) => {
    e.preventDefault();
    const pointerId = e.pointerId;
    setDraggingId(task.id);
    setTouchDrag({ title: task.title, x: e.clientX, y: e.clientY, over: task.status });
    const move = (ev: PointerEvent) => {
      if (ev.pointerId !== pointerId) return;
      const target = locate(ev.clientX, ev.clientY);
      setTouchDrag((d) => d && { ...d, x: ev.clientX, y: ev.clientY, over: target?.status ?? null });
      if (target?.tab) setActiveStatus(target.status);
    };
    const end = (ev: PointerEvent) => {
      if (ev.pointerId !== pointerId) return;
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", end);
      window.removeEventListener("pointercancel", end);
      setTouchDrag(null);
      setDraggingId(null);
      const target = ev.type === "pointerup" ? locate(ev.clientX, ev.clientY) : null;
      if (!target) return;
      const column = latest.current.columns[target.status];
      const own = column.findIndex((t) => t.id === task.id);
      const index = target.list ? dropIndex(target.list, ev.clientY, own) : column.length;
      if (target.status === task.status && index === own) return;
      moveTo(task, { status: target.status, position: positionAt(column, task.id, index) });
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", end);
    window.addEventListener("pointercancel", end);
  }, [moveTo]);
  const onFocused = useCallback(() => setFocusRequest(null), []);
  const headers = useMemo(
    () =>
      Object.fromEntries(
        STATUSES.map((s) => [s, canEdit ? <NewTaskForm boardId={boardId} status={s} actions={actions} /> : null]),
      ) as Record<Status, ReactNode>,
    [boardId, canEdit, actions],
  );

  // Phones: one column at a time, picked with tabs (the columns would otherwise stack,
  // putting "In progress" a screen or more below the top).
  const narrow = useMediaQuery(NARROW_QUERY);
  const [activeStatus, setActiveStatus] = useState<Status>("todo");
  const tabs = useRef<Partial<Record<Status, HTMLButtonElement | null>>>({});
  const onTabKey = (e: KeyboardEvent, status: Status) => {
    const i = STATUSES.indexOf(status);
    const next =
      e.key === "ArrowRight" ? STATUSES[(i + 1) % STATUSES.length]
      : e.key === "ArrowLeft" ? STATUSES[(i + STATUSES.length - 1) % STATUSES.length]
      : e.key === "Home" ? STATUSES[0]
      : e.key === "End" ? STATUSES[STATUSES.length - 1]
      : undefined;
    if (!next) return;
    e.preventDefault();
    setActiveStatus(next);
    tabs.current[next]?.focus();
  };
  // A card moved or reached by keyboard into another column: show that column.
  const focusStatus = focusRequest
    ? STATUSES.find((s) => columns[s].some((t) => t.id === focusRequest.taskId))
    : undefined;
  useEffect(() => {
    if (narrow && focusStatus) setActiveStatus(focusStatus);
  }, [narrow, focusStatus]);
  const shownStatuses = narrow ? [activeStatus] : STATUSES;

  return (
    <div className={`columns${narrow ? " columns-tabbed" : ""}`}>
      {touchDrag && (
        <div className="touch-ghost" aria-hidden="true" style={{ left: touchDrag.x, top: touchDrag.y }}>
          {touchDrag.title}
        </div>
      )}
      {narrow && (
        <div className="column-tabs" role="tablist" aria-label="Columns">
          {STATUSES.map((status) => (
            <button
              key={status}
              ref={(el) => {
                tabs.current[status] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${status}`}
              aria-selected={status === activeStatus}
              aria-controls={`panel-${status}`}
              tabIndex={status === activeStatus ? 0 : -1}
              className="column-tab"
              onClick={() => setActiveStatus(status)}
              onKeyDown={(e) => onTabKey(e, status)}
              data-drop-target={touchDrag?.over === status || undefined}
            >
              {STATUS_LABELS[status]} <span className="count">({columns[status].length})</span>
            </button>
          ))}
        </div>
      )}
      <p id={CARD_KEYS_HINT_ID} className="visually-hidden">
        {canEdit
          ? "Arrow keys go to the neighbouring card; Alt and an arrow key move this card."
          : "Arrow keys go to the neighbouring card."}
      </p>
      {shownStatuses.map((status) => (
        <Column
          key={status}
          status={status}
          tasks={columns[status]}
          boardId={boardId}
          membersById={membersById}
          editingNames={editingNames}
          canEdit={canEdit}
          draggingId={draggingId}
          onDrop={onDrop}
          onMove={onMove}
          onNavigate={onNavigate}
          onDragStart={onDragStart}
          onDragEnd={onDragEnd}
          focusRequest={focusRequest}
          onFocused={onFocused}
          header={headers[status]}
          onTouchDragStart={onTouchDragStart}
          touchOver={touchDrag?.over === status}
          {...(narrow ? { panelProps: { role: "tabpanel" as const, id: `panel-${status}`, "aria-labelledby": `tab-${status}` } } : {})}
        />
      ))}
    </div>
  );
}
