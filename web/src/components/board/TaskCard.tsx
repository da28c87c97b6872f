import { useEffect, useRef, type DragEvent } from "react";
import { Link } from "react-router";
import type { Member, Task } from "../../api/types";
import { Avatar } from "../Avatar";

export type MoveDirection = "up" | "down" | "left" | "right";

const ARROWS: Record<MoveDirection, string> = { up: "↑", down: "↓", left: "←", right: "→" };

interface Props {
  task: Task;
  boardId: string;
  assignee: Member | undefined;
  /** Names of the other people editing this task now. */
  editingBy: string[];
  canEdit: boolean;
  /** Which moves make sense from where the card is. */
  canMove: Record<MoveDirection, boolean>;
  moveLabels: Record<MoveDirection, string>;
  onMove: (direction: MoveDirection) => void;
  /** Put keyboard focus on this move button (after the card moved and re-rendered). */
  focusMove: MoveDirection | null;
  onFocused: () => void;
  dragging: boolean;
  onDragStart: (e: DragEvent) => void;
  onDragEnd: () => void;
}

function formatDue(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { timeZone: "UTC", month: "short", day: "numeric" });
}

function isOverdue(task: Task): boolean {
  return task.status !== "done" && task.due_date !== null && new Date(task.due_date).getTime() < Date.now();
}

export function TaskCard(props: Props) {
  const { task, assignee, editingBy, canEdit, canMove, moveLabels, focusMove } = props;
  const buttons = useRef<Partial<Record<MoveDirection, HTMLButtonElement | null>>>({});

  useEffect(() => {
    if (!focusMove) return;
    buttons.current[focusMove]?.focus();
    props.onFocused();
  }, [focusMove, props]);

  return (
    <li
      className={`task-card priority-${task.priority}${props.dragging ? " dragging" : ""}`}
      data-task-id={task.id}
      data-testid="task-card"
      draggable={canEdit}
      onDragStart={props.onDragStart}
      onDragEnd={props.onDragEnd}
    >
      <Link className="task-title" to={`/boards/${props.boardId}/tasks/${task.id}`}>
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
          {(Object.keys(ARROWS) as MoveDirection[]).map((dir) => (
            <button
              key={dir}
              ref={(el) => {
                buttons.current[dir] = el;
              }}
              type="button"
              className="icon-button"
              aria-label={`Move “${task.title}” ${moveLabels[dir]}`}
              title={`Move ${moveLabels[dir]}`}
              aria-disabled={!canMove[dir]}
              onClick={() => canMove[dir] && props.onMove(dir)}
            >
              <span aria-hidden="true">{ARROWS[dir]}</span>
            </button>
          ))}
        </div>
      )}
    </li>
  );
}
