import { useCallback, useMemo, useState } from "react";
import type { Member, Status, Task } from "../../api/types";
import { STATUSES, STATUS_LABELS } from "../../api/types";
import { columnsOf, moveAcross, moveWithinColumn, positionAt, type Move } from "../../board/position";
import { Column } from "./Column";
import { NewTaskForm } from "./NewTaskForm";
import { TaskCard, type MoveDirection } from "./TaskCard";
import type { TaskActions } from "./useTaskActions";

interface Props {
  boardId: string;
  tasks: Task[];
  members: Member[];
  /** task id -> names of the others editing it */
  editingNames: Record<string, string[]>;
  canEdit: boolean;
  actions: TaskActions;
  announce: (message: string) => void;
}

/** The three status columns; tasks move by drag and drop or by each card's move buttons. */
export function BoardColumns({ boardId, tasks, members, editingNames, canEdit, actions, announce }: Props) {
  const columns = useMemo(() => columnsOf(tasks), [tasks]);
  const membersById = useMemo(() => new Map(members.map((m) => [m.user_id, m])), [members]);
  const [draggingId, setDraggingId] = useState<string | null>(null);
  const [focusRequest, setFocusRequest] = useState<{ taskId: string; dir: MoveDirection } | null>(null);

  const moveTo = useCallback(
    (task: Task, move: Move) => {
      if (move.status === task.status && move.position === task.position) return;
      const column = columns[move.status].filter((t) => t.id !== task.id);
      const place = column.filter((t) => t.position < move.position).length + 1;
      announce(`Moved “${task.title}” to ${STATUS_LABELS[move.status]}, position ${place} of ${column.length + 1}.`);
      void actions.move(task, move);
    },
    [actions, announce, columns],
  );

  const onKeyboardMove = (task: Task, dir: MoveDirection) => {
    const move =
      dir === "up" || dir === "down"
        ? moveWithinColumn(columns[task.status], task.id, dir === "up" ? -1 : 1)
        : moveAcross(columns, task, dir === "left" ? -1 : 1);
    if (!move) return;
    setFocusRequest({ taskId: task.id, dir });
    moveTo(task, move);
  };

  const onDrop = (status: Status, index: number) => {
    const task = tasks.find((t) => t.id === draggingId);
    setDraggingId(null);
    if (!task) return;
    // Index k among the others is exactly where a task at k already sits.
    if (status === task.status && index === columns[status].indexOf(task)) return;
    moveTo(task, { status, position: positionAt(columns[status], task.id, index) });
  };

  return (
    <div className="columns">
      {STATUSES.map((status, columnIndex) => {
        const column = columns[status];
        const left = STATUSES[columnIndex - 1];
        const right = STATUSES[columnIndex + 1];
        return (
          <Column
            key={status}
            status={status}
            count={column.length}
            draggingId={draggingId}
            onDrop={onDrop}
            footer={canEdit ? <NewTaskForm boardId={boardId} status={status} actions={actions} /> : null}
          >
            {column.map((task, i) => (
              <TaskCard
                key={task.id}
                task={task}
                boardId={boardId}
                assignee={task.assignee_id ? membersById.get(task.assignee_id) : undefined}
                editingBy={editingNames[task.id] ?? []}
                canEdit={canEdit}
                canMove={{ up: i > 0, down: i < column.length - 1, left: Boolean(left), right: Boolean(right) }}
                moveLabels={{
                  up: "up",
                  down: "down",
                  left: left ? `to ${STATUS_LABELS[left]}` : "left",
                  right: right ? `to ${STATUS_LABELS[right]}` : "right",
                }}
                onMove={(dir) => onKeyboardMove(task, dir)}
                focusMove={focusRequest?.taskId === task.id ? focusRequest.dir : null}
                onFocused={() => setFocusRequest(null)}
                dragging={draggingId === task.id}
                onDragStart={(e) => {
                  e.dataTransfer.effectAllowed = "move";
                  e.dataTransfer.setData("text/plain", task.id);
                  setDraggingId(task.id);
                }}
                onDragEnd={() => setDraggingId(null)}
              />
            ))}
          </Column>
        );
      })}
    </div>
  );
}
