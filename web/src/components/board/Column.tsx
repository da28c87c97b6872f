import { defaultRangeExtractor, useVirtualizer, type Range } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useRef, useState, type DragEvent, type PointerEvent as ReactPointerEvent, type ReactNode } from "react";
import type { BoardColumn, Member, Task } from "../../api/types";
import { wipOf } from "../../board/position";
import { TaskCard, type CardFocus, type MoveDirection } from "./TaskCard";

export interface FocusRequest {
  taskId: string;
  target: CardFocus;
}

interface Props {
  column: BoardColumn;
  /** Names its test id and heading id: the category for the first column of each, else its id. */
  testKey: string;
  /** The neighbouring columns' names, for the cards' move buttons. */
  leftName: string | undefined;
  rightName: string | undefined;
  tasks: readonly Task[];
  boardId: string;
  membersById: ReadonlyMap<string, Member>;
  editingNames: Readonly<Record<string, string[]>>;
  canEdit: boolean;
  /** The task being dragged, if any (dataTransfer can't be read during dragover). */
  draggingId: string | null;
  /** A task was dropped at `index` among this column's other cards. */
  onDrop: (columnId: string, index: number) => void;
  onMove: (task: Task, direction: MoveDirection) => void;
  onNavigate: (task: Task, direction: MoveDirection) => void;
  onDragStart: (task: Task, e: DragEvent) => void;
  onDragEnd: () => void;
  /** A finger (or pen) started dragging a card by its handle. */
  onTouchDragStart: (task: Task, e: ReactPointerEvent) => void;
  /** A touch drag is over this column. */
  touchOver: boolean;
  focusRequest: FocusRequest | null;
  onFocused: () => void;
  /** Shown above the cards (the add-task form), so it is reachable without scrolling. */
  header?: ReactNode;
  /** For the phone layout, where the column is a tab panel. */
  panelProps?: { role: "tabpanel"; id: string; "aria-labelledby": string };
}

const NO_NAMES: string[] = [];
const ESTIMATED_CARD_PX = 84;
const GAP_PX = 8;

/**
 * Where among the column's other cards the pointer is: before the first rendered card whose
 * middle is below it. Cards carry their index in the whole column (the list is virtualized).
 */
export function dropIndex(list: HTMLElement, clientY: number, draggingIndex: number): number {
  const cards = [...list.querySelectorAll<HTMLElement>("[data-index]")]
    .map((el) => ({ el, index: Number(el.dataset.index) }))
    .filter((c) => c.index !== draggingIndex)
    .sort((x, y) => x.index - y.index);
  const hit = cards.find((c) => {
    const r = c.el.getBoundingClientRect();
    return clientY < r.top + r.height / 2;
  });
  const index = hit ? hit.index : (cards.at(-1)?.index ?? -1) + 1;
  // Index among the *others*: the dragged card, if it sits above, doesn't count.
  return draggingIndex >= 0 && draggingIndex < index ? index - 1 : index;
}

/**
 * One column of the board; its header shows the WIP limit ("3 / 5") and marks it when full. Only the cards in view (and a few either side) are in the DOM: the
 * list scrolls inside the column, under a header and add-task form that stay put.
 */
export const Column = memo(function Column(props: Props) {
  const { column, testKey, tasks, draggingId, focusRequest, onFocused } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLOListElement>(null);
  const [over, setOver] = useState(false);
  const [focusedIndex, setFocusedIndex] = useState(-1);
  const headingId = `column-${testKey}`;
  const wip = wipOf(column, tasks.length);
  const draggingIndex = draggingId ? tasks.findIndex((t) => t.id === draggingId) : -1;

  // The dragged card and the focused one stay mounted even when scrolled away, so a drag
  // ends properly and keyboard focus is never dropped on the page.
  const pinned = useRef<number[]>([]);
  pinned.current = [draggingIndex, focusedIndex].filter((i) => i >= 0 && i < tasks.length);
  const rangeExtractor = useCallback((range: Range) => {
    const indexes = new Set(defaultRangeExtractor(range));
    for (const i of pinned.current) indexes.add(i);
    return [...indexes].sort((a, b) => a - b);
  }, []);

  const virtualizer = useVirtualizer({
    count: tasks.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ESTIMATED_CARD_PX,
    gap: GAP_PX,
    overscan: 6,
    getItemKey: (index) => tasks[index]?.id ?? index,
    rangeExtractor,
  });

  // A card to be focused (it moved, or arrow keys led to it) is scrolled into the rendered range first.
  const requestedIndex = focusRequest ? tasks.findIndex((t) => t.id === focusRequest.taskId) : -1;
  useEffect(() => {
    if (requestedIndex >= 0) virtualizer.scrollToIndex(requestedIndex, { align: "auto" });
  }, [requestedIndex, focusRequest, virtualizer]);

  const onDragOver = (e: DragEvent) => {
    if (!draggingId) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (!over) setOver(true);
  };
  const handleDrop = (e: DragEvent) => {
    if (!draggingId || !list.current) return;
    e.preventDefault();
    setOver(false);
    props.onDrop(column.id, dropIndex(list.current, e.clientY, draggingIndex));
  };

  const items = virtualizer.getVirtualItems();
  return (
    <section
      className={`column${over || props.touchOver ? " drop-target" : ""}${wip.full ? " wip-full" : ""}${wip.over ? " wip-over" : ""}`}
      aria-labelledby={props.panelProps ? undefined : headingId}
      data-column-id={column.id}
      data-status={column.category}
      data-wip={wip.over ? "over" : wip.full ? "full" : undefined}
      data-testid={`column-${testKey}`}
      onDragOver={onDragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
      }}
      onDrop={handleDrop}
      {...props.panelProps}
    >
      <h2 id={headingId} className="column-heading">
        {column.name} <span className="count">({wip.text})</span>
        {wip.full && " "}
        {wip.full && <span className="wip-mark">{wip.over ? "over limit" : "full"}</span>}
      </h2>
      {props.header}
      <div className="column-scroll" ref={scroller} data-testid={`column-scroll-${testKey}`}>
        <ol
          ref={list}
          className="task-list"
          aria-labelledby={headingId}
          style={{ height: virtualizer.getTotalSize() }}
          onFocus={(e) => {
            const index = Number((e.target.closest("[data-index]") as HTMLElement | null)?.dataset.index ?? -1);
            if (index !== focusedIndex) setFocusedIndex(index);
          }}
          onBlur={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocusedIndex(-1);
          }}
        >
          {items.map((item) => {
            const task = tasks[item.index];
            if (!task) return null;
            return (
              <TaskCard
                key={task.id}
                ref={virtualizer.measureElement}
                index={item.index}
                count={tasks.length}
                offset={item.start}
                task={task}
                boardId={props.boardId}
                assignee={task.assignee_id ? props.membersById.get(task.assignee_id) : undefined}
                editingBy={props.editingNames[task.id] ?? NO_NAMES}
                canEdit={props.canEdit}
                leftName={props.leftName}
                rightName={props.rightName}
                onMove={props.onMove}
                onNavigate={props.onNavigate}
                focus={focusRequest?.taskId === task.id ? focusRequest.target : null}
                onFocused={onFocused}
                dragging={draggingId === task.id}
                onDragStart={props.onDragStart}
                onDragEnd={props.onDragEnd}
                onTouchDragStart={props.onTouchDragStart}
              />
            );
          })}
        </ol>
        {tasks.length === 0 && <p className="column-empty muted">No tasks here.</p>}
      </div>
    </section>
  );
});
