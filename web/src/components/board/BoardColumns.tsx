import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type KeyboardEvent, type PointerEvent as ReactPointerEvent, type ReactNode } from "react";
import { useMediaQuery } from "../useMediaQuery";
import type { Member, Task } from "../../api/types";
import type { Columns } from "../../board/columns";
import { moveAcross, moveWithinColumn, neighbourColumn, positionAt, wipOf, type Layout, type Move } from "../../board/position";
import { Column, dropIndex, type FocusRequest } from "./Column";
import { NewTaskForm } from "./NewTaskForm";
import { CARD_KEYS_HINT_ID, type MoveDirection } from "./TaskCard";
import type { TaskActions } from "./useTaskActions";

const NO_TASKS: readonly Task[] = [];

/** Below this width the columns become tabs. */
export const NARROW_QUERY = "(max-width: 700px)";

interface Props {
  boardId: string;
  /** The columns as shown (filtered, when a filter is on). */
  columns: Columns;
  /** The board's columns, in order. */
  layout: Layout;
  members: Member[];
  /** task id -> names of the others editing it */
  editingNames: Record<string, string[]>;
  canEdit: boolean;
  actions: TaskActions;
  announce: (message: string) => void;
}

/**
 * The board's columns, in its order; tasks move by drag and drop, by each card's move
 * buttons, or by Alt + arrow keys on a card (plain arrow keys go from card to card).
 */
export function BoardColumns({ boardId, columns, layout, members, editingNames, canEdit, actions, announce }: Props) {
  const membersById = useMemo(() => new Map(members.map((m) => [m.user_id, m])), [members]);
  const [draggingId, setDraggingId] = useState<string | null>(null);
  const [focusRequest, setFocusRequest] = useState<FocusRequest | null>(null);
  // The handlers read the latest columns through a ref, so they keep their identity and
  // the memoized columns and cards don't re-render for every change elsewhere.
  const latest = useRef({ columns, layout, actions, announce, draggingId });
  latest.current = { columns, layout, actions, announce, draggingId };
  const tasksOf = (cols: Columns, columnId: string): readonly Task[] => cols[columnId] ?? NO_TASKS;

  const moveTo = useCallback((task: Task, move: Move) => {
    const { columns: cols, layout: lay, actions: act, announce: say } = latest.current;
    if (move.column.id === lay.place(task) && move.position === task.position) return;
    const column = tasksOf(cols, move.column.id).filter((t) => t.id !== task.id);
    const place = column.filter((t) => t.position < move.position).length + 1;
    const wip = wipOf(move.column, column.length + 1);
    say(`Moved “${task.title}” to ${move.column.name}, position ${place} of ${column.length + 1}.` +
      (wip.over ? ` ${move.column.name} is over its limit of ${move.column.wip_limit}.` : ""));
    void act.move(task, move);
  }, []);

  const onMove = useCallback(
    (task: Task, dir: MoveDirection) => {
      const { columns: cols, layout: lay } = latest.current;
      const own = lay.byId(lay.place(task) ?? "");
      const move =
        dir === "up" || dir === "down"
          ? own ? moveWithinColumn(own, tasksOf(cols, own.id), task.id, dir === "up" ? -1 : 1) : null
          : moveAcross(cols, lay, task, dir === "left" ? -1 : 1);
      if (!move) return;
      // Focus follows the card: to the same control, or to its title after Alt + arrow.
      setFocusRequest({ taskId: task.id, target: document.activeElement?.classList.contains("task-title") ? "card" : dir });
      moveTo(task, move);
    },
    [moveTo],
  );

  const onNavigate = useCallback((task: Task, dir: MoveDirection) => {
    const { columns: cols, layout: lay } = latest.current;
    const place = lay.place(task) ?? "";
    const column = tasksOf(cols, place);
    const index = column.findIndex((t) => t.id === task.id);
    let target: Task | undefined;
    if (dir === "up") target = column[index - 1];
    else if (dir === "down") target = column[index + 1];
    else {
      // The nearest non-empty column that way, at the same height (or its last card).
      const step = dir === "left" ? -1 : 1;
      for (let s = lay.ids.indexOf(place) + step; s >= 0 && s < lay.ids.length && !target; s += step) {
        const other = tasksOf(cols, lay.ids[s]!);
        target = other[Math.min(index, other.length - 1)];
      }
    }
    if (target) setFocusRequest({ taskId: target.id, target: "card" });
  }, []);

  const onDrop = useCallback(
    (columnId: string, index: number) => {
      const { columns: cols, layout: lay, draggingId: id } = latest.current;
      setDraggingId(null);
      const task = lay.ids.flatMap((c) => tasksOf(cols, c)).find((t) => t.id === id);
      const target = lay.byId(columnId);
      if (!task || !target) return;
      const column = tasksOf(cols, columnId);
      // Index k among the others is exactly where a task at k already sits.
      if (columnId === lay.place(task) && index === column.indexOf(task)) return;
      moveTo(task, { column: target, position: positionAt(column, task.id, index) });
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
  const [touchDrag, setTouchDrag] = useState<{ title: string; x: number; y: number; over: string | null } | null>(null);
  const locate = (x: number, y: number): { columnId: string; list: HTMLElement | null; tab: boolean } | null => {
    const el = document.elementFromPoint(x, y);
    const tab = el?.closest<HTMLElement>('[role="tab"][id^="tab-"]');
    if (tab) return { columnId: tab.id.slice(4), list: null, tab: true };
    const column = el?.closest<HTMLElement>("[data-column-id]");
    if (!column) return null;
    return { columnId: column.dataset.columnId ?? "", list: column.querySelector<HTMLElement>(".task-list"), tab: false };
  };
  const onTouchDragStart = useCallback((task: Task, e: ReactPointerEvent) => {
    e.preventDefault();
    const pointerId = e.pointerId;
    setDraggingId(task.id);
    setTouchDrag({ title: task.title, x: e.clientX, y: e.clientY, over: latest.current.layout.place(task) ?? null });
    const move = (ev: PointerEvent) => {
      if (ev.pointerId !== pointerId) return;
      const target = locate(ev.clientX, ev.clientY);
      setTouchDrag((d) => d && { ...d, x: ev.clientX, y: ev.clientY, over: target?.columnId ?? null });
      if (target?.tab) setActiveColumn(target.columnId);
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
      const { columns: cols, layout: lay } = latest.current;
      const into = lay.byId(target.columnId);
      if (!into) return;
      const column = tasksOf(cols, into.id);
      const own = column.findIndex((t) => t.id === task.id);
      const index = target.list ? dropIndex(target.list, ev.clientY, own) : column.length;
      if (into.id === lay.place(task) && index === own) return;
      moveTo(task, { column: into, position: positionAt(column, task.id, index) });
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", end);
    window.addEventListener("pointercancel", end);
  }, [moveTo]);
  const onFocused = useCallback(() => setFocusRequest(null), []);
  const headers = useMemo(
    () =>
      Object.fromEntries(
        layout.columns.map((c) => [c.id, canEdit ? <NewTaskForm boardId={boardId} column={c} actions={actions} /> : null]),
      ) as Record<string, ReactNode>,
    [boardId, canEdit, actions, layout],
  );
  // The first column of each category keeps the test id and heading id it always had.
  const keys = useMemo(() => {
    const seen = new Set<string>();
    return Object.fromEntries(layout.columns.map((c) => {
      const key = seen.has(c.category) ? c.id : c.category;
      seen.add(c.category);
      return [c.id, key];
    })) as Record<string, string>;
  }, [layout]);

  // Phones: one column at a time, picked with tabs (the columns would otherwise stack,
  // putting "In progress" a screen or more below the top).
  const narrow = useMediaQuery(NARROW_QUERY);
  const [chosenColumn, setActiveColumn] = useState<string>("");
  const activeColumn = layout.byId(chosenColumn) ? chosenColumn : (layout.ids[0] ?? "");
  const tabs = useRef<Record<string, HTMLButtonElement | null>>({});
  const onTabKey = (e: KeyboardEvent, columnId: string) => {
    const ids = layout.ids;
    const i = ids.indexOf(columnId);
    const next =
      e.key === "ArrowRight" ? ids[(i + 1) % ids.length]
      : e.key === "ArrowLeft" ? ids[(i + ids.length - 1) % ids.length]
      : e.key === "Home" ? ids[0]
      : e.key === "End" ? ids[ids.length - 1]
      : undefined;
    if (!next) return;
    e.preventDefault();
    setActiveColumn(next);
    tabs.current[next]?.focus();
  };
  // A card moved or reached by keyboard into another column: show that column.
  const focusColumn = focusRequest
    ? layout.ids.find((c) => (columns[c] ?? NO_TASKS).some((t) => t.id === focusRequest.taskId))
    : undefined;
  useEffect(() => {
    if (narrow && focusColumn) setActiveColumn(focusColumn);
  }, [narrow, focusColumn]);
  const shownColumns = narrow ? layout.columns.filter((c) => c.id === activeColumn) : layout.columns;

  return (
    <div className={`columns${narrow ? " columns-tabbed" : ""}`}>
      {touchDrag && (
        <div className="touch-ghost" aria-hidden="true" style={{ left: touchDrag.x, top: touchDrag.y }}>
          {touchDrag.title}
        </div>
      )}
      {narrow && (
        <div className="column-tabs" role="tablist" aria-label="Columns">
          {layout.columns.map((column) => {
            const wip = wipOf(column, (columns[column.id] ?? NO_TASKS).length);
            return (
              <button
                key={column.id}
                ref={(el) => {
                  tabs.current[column.id] = el;
                }}
                type="button"
                role="tab"
                id={`tab-${column.id}`}
                aria-selected={column.id === activeColumn}
                aria-controls={`panel-${column.id}`}
                tabIndex={column.id === activeColumn ? 0 : -1}
                className={`column-tab${wip.full ? " wip-full" : ""}`}
                onClick={() => setActiveColumn(column.id)}
                onKeyDown={(e) => onTabKey(e, column.id)}
                data-drop-target={touchDrag?.over === column.id || undefined}
              >
                {column.name} <span className="count">({wip.text}{wip.full ? (wip.over ? ", over limit" : ", full") : ""})</span>
              </button>
            );
          })}
        </div>
      )}
      <p id={CARD_KEYS_HINT_ID} className="visually-hidden">
        {canEdit
          ? "Arrow keys go to the neighbouring card; Alt and an arrow key move this card."
          : "Arrow keys go to the neighbouring card."}
      </p>
      {shownColumns.map((column) => (
        <Column
          key={column.id}
          column={column}
          testKey={keys[column.id] ?? column.id}
          leftName={neighbourColumn(layout, column.id, -1)?.name}
          rightName={neighbourColumn(layout, column.id, 1)?.name}
          tasks={columns[column.id] ?? NO_TASKS}
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
          header={headers[column.id]}
          onTouchDragStart={onTouchDragStart}
          touchOver={touchDrag?.over === column.id}
          {...(narrow ? { panelProps: { role: "tabpanel" as const, id: `panel-${column.id}`, "aria-labelledby": `tab-${column.id}` } } : {})}
        />
      ))}
    </div>
  );
}
