import { useEffect, useRef, useState } from "react";
import type { Member, Task } from "../../api/types";
import { STATUS_LABELS } from "../../api/types";
import type { BoardSync } from "../../live/boardSync";
import type { BoardState } from "../../live/reducer";
import { Alert } from "../Alert";
import { useAction } from "../useAction";
import { CommentsSection } from "./CommentsSection";
import { TaskEditor } from "./TaskEditor";
import type { TaskActions } from "./useTaskActions";

interface Props {
  taskId: string;
  state: BoardState;
  sync: BoardSync;
  canEdit: boolean;
  editingBy: string[];
  actions: TaskActions;
  onClose: () => void;
}

/** The task in a modal dialog: its editor (or a read-only view), attachments and comments. */
export function TaskDetail({ taskId, state, sync, canEdit, editingBy, actions, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const task = state.tasks[taskId];
  const members = state.board.members;
  const isOwner = state.board.members.find((m) => m.user_id === state.me)?.role === "owner";
  const exists = task !== undefined;

  useEffect(() => {
    const d = dialog.current;
    // No close() on cleanup: removing the element ends the modal, and a close event
    // fired during unmount would navigate away a second time.
    if (d && !d.open) d.showModal();
  }, []);

  // Tell the others this task is being edited for as long as the editor is open.
  useEffect(() => {
    if (!canEdit || !exists) return;
    sync.setEditing(taskId, true);
    return () => sync.setEditing(taskId, false);
  }, [canEdit, exists, sync, taskId]);

  return (
    <dialog ref={dialog} className="task-dialog" aria-labelledby="task-dialog-title" onClose={onClose} data-testid="task-dialog">
      <div className="dialog-head">
        <h2 id="task-dialog-title">{task ? task.title : "Task not found"}</h2>
        <button type="button" className="icon-button" aria-label="Close task" onClick={() => dialog.current?.close()}>
          <span aria-hidden="true">×</span>
        </button>
      </div>
      {!task ? (
        <p>This task was deleted or is not on this board.</p>
      ) : (
        <>
          {editingBy.length > 0 && (
            <Alert kind="info">
              {editingBy.join(", ")} {editingBy.length === 1 ? "is" : "are"} editing this task too.
            </Alert>
          )}
          {canEdit ? <TaskEditor key={task.id} task={task} members={members} actions={actions} /> : <ReadOnlyTask task={task} members={members} />}
          <Attachments names={(state.attachments[task.id] ?? []).map((a) => String(a.filename ?? a.id))} />
          <CommentsSection taskId={task.id} comments={state.comments[task.id]} members={members} me={state.me}
            isOwner={isOwner} canComment={canEdit} sync={sync} />
          {canEdit && <DeleteTask task={task} actions={actions} onDeleted={() => dialog.current?.close()} />}
        </>
      )}
    </dialog>
  );
}

function ReadOnlyTask({ task, members }: { task: Task; members: Member[] }) {
  const assignee = members.find((m) => m.user_id === task.assignee_id);
  return (
    <dl className="task-readonly">
      <dt>Description</dt>
      <dd>{task.description || "—"}</dd>
      <dt>Status</dt>
      <dd>{STATUS_LABELS[task.status]}</dd>
      <dt>Priority</dt>
      <dd>{task.priority}</dd>
      <dt>Due date</dt>
      <dd>{task.due_date ? new Date(task.due_date).toLocaleDateString(undefined, { timeZone: "UTC" }) : "—"}</dd>
      <dt>Assignee</dt>
      <dd>{assignee?.name ?? "Unassigned"}</dd>
      <dt>Tags</dt>
      <dd>{task.tags.join(", ") || "—"}</dd>
    </dl>
  );
}

function Attachments({ names }: { names: string[] }) {
  if (names.length === 0) return null;
  return (
    <section aria-label="Attachments">
      <h3>Attachments</h3>
      <ul>
        {names.map((n) => (
          <li key={n}>{n}</li>
        ))}
      </ul>
    </section>
  );
}

function DeleteTask({ task, actions, onDeleted }: { task: Task; actions: TaskActions; onDeleted: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useAction(async () => {
    await actions.remove(task);
    onDeleted();
  });
  return (
    <div className="danger-zone">
      <Alert>{remove.message}</Alert>
      {!confirming ? (
        <button type="button" className="button-danger" onClick={() => setConfirming(true)}>
          Delete task
        </button>
      ) : (
        <div className="button-row" role="group" aria-label="Confirm deletion">
          <span>Delete “{task.title}” for everyone?</span>
          <button type="button" className="button-danger" onClick={() => void remove.run()} disabled={remove.pending}>
            Yes, delete
          </button>
          <button type="button" className="button-secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
    </div>
  );
}
