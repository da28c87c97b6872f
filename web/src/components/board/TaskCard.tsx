import { memo, useEffect, useRef, type DragEvent, type KeyboardEvent, type PointerEvent, type Ref } from "react";
import { Link } from "react-router";
import type { Member, Task } from "../../api/types";
import { progressLabel, progressOf } from "../../board/checklist";
import { Avatar } from "../Avatar";

export type MoveDirection = "up" | "down" | "left" | "right";
/** Where focus goes on a card: its title link, or one of its move buttons. */
export type CardFocus = MoveDirection | "card";

const ARROWS: Record<MoveDirection, string> = { up: "↑", down: "↓", left: "←", right: "→" };
const KEYS: Record<string, MoveDirection> = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right" };
/** Shared description of the keys a focused card answers to (rendered once by BoardColumns). */
export const CARD_KEYS_HINT_ID = "card-keys-hint";

interface Props {
  ref?: Ref<HTMLLIElement>;
  task: Task;
  /** Its place in the whole column (the list is virtualized), and the column's length. */
  index: number;
  count: number;
  /** Pixels from the top of the list. */
  offset: number;
  boardId: string;
  assignee: Member | undefined;
  /** Names of the other people editing this task now. */
  editingBy: string[];
  canEdit: boolean;
  /** The neighbouring columns' names (none at the edges). */
  leftName: string | undefined;
  rightName: string | undefined;
  onMove: (task: Task, direction: MoveDirection) => void;
  /** Arrow keys on the title: go to the neighbouring card. */
  onNavigate: (task: Task, direction: MoveDirection) => void;
  /** Put keyboard focus here (after the card moved and re-rendered, or arrow keys led here). */
  focus: CardFocus | null;
  onFocused: () => void;
  dragging: boolean;
  onDragStart: (task: Task, e: DragEvent) => void;
  onDragEnd: () => void;
  onTouchDragStart: (task: Task, e: PointerEvent) => void;
}

function formatDue(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { timeZone: "UTC", month: "short", day: "numeric" });
}

function isOverdue(task: Task): boolean {
  return task.status !== "done" && task.due_date !== null && new Date(task.due_date).getTime() < Date.now();
}

export const TaskCard = memo(function TaskCard(props: Props) {
  const { task, index, count, assignee, editingBy, canEdit, focus, onFocused } = props;
  const link = useRef<HTMLAnchorElement>(null);
  const buttons = useRef<Partial<Record<MoveDirection, HTMLButtonElement | null>>>({});
  const left = props.leftName;
  const right = props.rightName;
  const canMove: Record<MoveDirection, boolean> = { up: index > 0, down: index < count - 1, left: !!left, right: !!right };
  const moveLabels: Record<MoveDirection, string> = {
    up: "up",
    down: "down",
    left: left ? `to ${left}` : "left",
    right: right ? `to ${right}` : "right",
  };

  useEffect(() => {
    if (!focus) return;
    (focus === "card" ? link.current : buttons.current[focus])?.focus();
    onFocused();
  }, [focus, onFocused]);

  const onKeyDown = (e: KeyboardEvent) => {
    const dir = KEYS[e.key];
    if (!dir || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    if (e.altKey) {
      if (canEdit && canMove[dir]) props.onMove(task, dir);
    } else props.onNavigate(task, dir);
  };

  return (
    <li
      ref={props.ref}
      className={`task-card priority-${task.priority}${props.dragging ? " dragging" : ""}`}
      data-task-id={task.id}
      data-index={index}
      data-testid="task-card"
      aria-posinset={index + 1}
      aria-setsize={count}
      style={{ transform: `translateY(${props.offset}px)` }}
      draggable={canEdit}
      onDragStart={(e) => props.onDragStart(task, e)}
      onDragEnd={props.onDragEnd}
    >
      <Link ref={link} className="task-title" to={`/boards/${props.boardId}/tasks/${task.id}`}
        aria-describedby={CARD_KEYS_HINT_ID} onKeyDown={onKeyDown}>
        {task.title}
      </Link>
      <div className="task-meta">
        <span className={`badge badge-${task.priority}`}>{task.priority}</span>
        {task.due_date && (
          <span className={`due${isOverdue(task) ? " overdue" : ""}`}>
            Due {formatDue(task.due_date)}
            {isOverdue(task) ? " (overdue)" : ""}
          </span>
        )}
        {task.checklist && task.checklist.length > 0 && (() => {
          const progress = progressOf(task.checklist);
          return (
            <span className={`checklist-badge${progress.done === progress.total ? " complete" : ""}`}
              data-testid="checklist-progress">
              <span aria-hidden="true">☑ {progress.done}/{progress.total}</span>
              <span className="visually-hidden">{progressLabel(progress)}</span>
            </span>
          );
        })()}
        {task.tags.map((tag) => (
          <span key={tag} className="tag">
            {tag}
          </span>
        ))}
        {assignee && (
          <span className="assignee">
            <Avatar name={assignee.name} userId={assignee.user_id} size="sm" />
            <span className="visually-hidden">Assigned to {assignee.name}</span>
          </span>
        )}
      </div>
      {editingBy.length > 0 && (
        <p className="editing-mark" data-testid="editing-mark">
          ✎ {editingBy.join(", ")} {editingBy.length === 1 ? "is" : "are"} editing
        </p>
      )}
      {canEdit && (
        <div className="move-buttons" role="group" aria-label={`Move “${task.title}”`}>
          {/* For fingers: drag from here (touch-action: none, so the list doesn't scroll instead).
              Mice use the card itself; keyboards the buttons and Alt + arrows. */}
          <span className="drag-handle" aria-hidden="true" data-testid="drag-handle"
            onPointerDown={(e) => e.pointerType !== "mouse" && props.onTouchDragStart(task, e)}>
            ⠿
          </span>
          {(Object.keys(ARROWS) as MoveDirection[]).map((dir) => (
            <button
              key={dir}
              ref={(el) => {
                buttons.current[dir] = el;
              }}
              type="button"
              className="icon-button move-button"
              aria-label={`Move “${task.title}” ${moveLabels[dir]}`}
              title={`Move ${moveLabels[dir]}`}
              aria-disabled={!canMove[dir]}
              onClick={() => canMove[dir] && props.onMove(task, dir)}
            >
              <span aria-hidden="true">{ARROWS[dir]}</span>
            </button>
          ))}
        </div>
      )}
    </li>
  );
});
