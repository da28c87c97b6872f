import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { useBlocker } from "react-router";
import type { BoardColumn, Member, Task } from "../../api/types";
import { STATUS_LABELS } from "../../api/types";
import type { BoardSync } from "../../live/boardSync";
import type { BoardState } from "../../live/reducer";
import { Alert } from "../Alert";
import type { TaskForm } from "../../board/taskForm";
import { activityKey } from "../../board/checklist";
import { ActivitySection } from "./ActivitySection";
import { AttachmentsSection } from "./AttachmentsSection";
import { ChecklistSection } from "./ChecklistSection";
import { WatchButton } from "../WatchButton";
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
  /** Deletes with an undo window (see useUndoableDelete). */
  onDelete: (task: Task) => void;
}

/**
 * The task in a modal dialog: its editor (or a read-only view), attachments and comments.
 * Unsaved changes are never dropped silently: closing (Escape, ×, Back, a link) asks first,
 * and if the editor goes away under them (made a viewer, task deleted) they stay on screen
 * to copy.
 */
export function TaskDetail({ taskId, state, sync, canEdit, editingBy, actions, onClose, onDelete }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const task = state.tasks[taskId];
  const members = state.board.members;
  const isOwner = state.board.members.find((m) => m.user_id === state.me)?.role === "owner";
  const exists = task !== undefined;
  const [draft, setDraft] = useState<TaskForm | null>(null);
  const leaving = useRef(false);
  // Read by the blocker at the moment of leaving: set as soon as the editor reports, not a render later.
  const hasDraft = useRef(false);
  const updateDraft = useCallback((next: TaskForm | null) => {
    hasDraft.current = next !== null;
    setDraft(next);
  }, []);
  const blocker = useBlocker(
    ({ currentLocation, nextLocation }) =>
      hasDraft.current && !leaving.current && currentLocation.pathname !== nextLocation.pathname,
  );
  // Blocked on a draft that was saved in the same moment (the editor reports after it renders): go on.
  useEffect(() => {
    if (blocker.state === "blocked" && draft === null) blocker.proceed();
  }, [blocker, draft]);

  useEffect(() => {
    const d = dialog.current;
    // No close() on cleanup: removing the element ends the modal.
    if (d && !d.open) d.showModal();
  }, []);

  // Closing or reloading the tab with unsaved changes: the browser asks.
  useEffect(() => {
    if (draft === null) return;
    const ask = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", ask);
    return () => window.removeEventListener("beforeunload", ask);
  }, [draft]);

  // Tell the others this task is being edited for as long as the editor is open.
  useEffect(() => {
    if (!canEdit || !exists) return;
    sync.setEditing(taskId, true);
    return () => sync.setEditing(taskId, false);
  }, [canEdit, exists, sync, taskId]);

  const leave = () => {
    leaving.current = true;
    onClose();
  };

  return (
    <dialog
      ref={dialog}
      className="task-dialog"
      aria-labelledby="task-dialog-title"
      data-testid="task-dialog"
      onCancel={(e) => {
        // Escape: leave by the route, so unsaved changes are asked about first.
        e.preventDefault();
        onClose();
      }}
      onClose={() => {
        // The browser closed it anyway (a repeated Escape can't be cancelled): stay open and ask.
        if (leaving.current) return;
        dialog.current?.showModal();
        onClose();
      }}
    >
      <div className="dialog-head">
        <h2 id="task-dialog-title">{task ? task.title : "Task not found"}</h2>
        <button type="button" className="icon-button close-button" aria-label="Close task" onClick={onClose}>
          <span aria-hidden="true">×</span>
        </button>
      </div>
      {blocker.state === "blocked" && draft !== null && (
        <ConfirmDiscard onKeep={() => blocker.reset()} onDiscard={() => {
          leaving.current = true;
          blocker.proceed();
        }} />
      )}
      {!task ? (
        <>
          <p>This task was deleted or is not on this board.</p>
          {draft && <KeptDraft draft={draft} members={members} columns={state.board.columns} reason="deleted" onDismiss={() => updateDraft(null)} />}
        </>
      ) : (
        <>
          {editingBy.length > 0 && (
            <Alert kind="info">
              {editingBy.join(", ")} {editingBy.length === 1 ? "is" : "are"} editing this task too.
            </Alert>
          )}
          <WatchButton boardId={state.board.id} taskId={task.id} />
          {canEdit ? (
            <TaskEditor key={task.id} task={task} members={members} columns={state.board.columns} actions={actions} initialDraft={draft}
              onDraftChange={updateDraft} />
          ) : (
            <>
              {draft && <KeptDraft draft={draft} members={members} columns={state.board.columns} reason="role" onDismiss={() => updateDraft(null)} />}
              <ReadOnlyTask task={task} members={members} columns={state.board.columns} />
            </>
          )}
          <ChecklistSection task={task} canEdit={canEdit} sync={sync} />
          <AttachmentsSection taskId={task.id} attachments={state.attachments[task.id]} members={members}
            canEdit={canEdit} sync={sync} dropZone={dialog} />
          <CommentsSection taskId={task.id} comments={state.comments[task.id]} members={members} me={state.me}
            isOwner={isOwner} canComment={canEdit} sync={sync} />
          <ActivitySection taskId={task.id} members={members}
            liveKey={activityKey(task.version, state.comments[task.id], state.attachments[task.id])} />
          {canEdit && (
            <div className="danger-zone">
              <button type="button" className="button-danger" onClick={() => {
                onDelete(task);
                leave();
              }}>
                Delete task
              </button>
              <p className="field-hint">You can undo this for a few seconds.</p>
            </div>
          )}
        </>
      )}
    </dialog>
  );
}

function ConfirmDiscard({ onKeep, onDiscard }: { onKeep: () => void; onDiscard: () => void }) {
  const keep = useRef<HTMLButtonElement>(null);
  // Focus moves in the commit that shows the question, before the browser paints it: with a
  // passive effect, a key pressed in that frame would still go to the text being discarded.
  useLayoutEffect(() => keep.current?.focus(), []);
  return (
    <div className="confirm-discard" role="alertdialog" aria-labelledby="discard-title" aria-describedby="discard-text">
      <h3 id="discard-title">Discard your changes?</h3>
      <p id="discard-text">You have changed this task without saving. Closing it now loses those changes.</p>
      <div className="button-row">
        <button type="button" ref={keep} onClick={onKeep}>
          Keep editing
        </button>
        <button type="button" className="button-danger" onClick={onDiscard}>
          Discard changes
        </button>
      </div>
    </div>
  );
}

/** Unsaved changes whose editor went away, shown as text the user can copy. */
function KeptDraft({ draft, members, columns, reason, onDismiss }: {
  draft: TaskForm;
  members: Member[];
  columns: BoardColumn[];
  reason: "role" | "deleted";
  onDismiss: () => void;
}) {
  const [copied, setCopied] = useState(false);
  const assignee = members.find((m) => m.user_id === draft.assignee)?.name ?? "Unassigned";
  const text = [
    `Title: ${draft.title}`,
    `Description: ${draft.description}`,
    `Column: ${columns.find((c) => c.id === draft.column)?.name ?? "a deleted column"}`,
    `Priority: ${draft.priority}`,
    `Due date: ${draft.due || "none"}`,
    `Assignee: ${assignee}`,
    `Tags: ${draft.tags}`,
  ].join("\n");
  const copy = () => {
    void navigator.clipboard?.writeText(text).then(() => setCopied(true), () => setCopied(false));
  };
  return (
    <section className="kept-draft" aria-labelledby="kept-draft-title" data-testid="kept-draft">
      <h3 id="kept-draft-title">Your unsaved changes</h3>
      <p>
        {reason === "role"
          ? "You can no longer edit this board (your role changed to viewer), so these changes were not saved. They are kept here for you to copy."
          : "This task was deleted while you were editing it, so these changes were not saved. They are kept here for you to copy."}
      </p>
      <label className="visually-hidden" htmlFor="kept-draft-text">Your unsaved changes, as text</label>
      <textarea id="kept-draft-text" readOnly rows={7} value={text} onFocus={(e) => e.currentTarget.select()} />
      <div className="button-row">
        <button type="button" onClick={copy}>
          Copy to clipboard
        </button>
        <button type="button" className="button-secondary" onClick={onDismiss}>
          Dismiss
        </button>
        {copied && <span role="status">Copied.</span>}
      </div>
    </section>
  );
}

function ReadOnlyTask({ task, members, columns }: { task: Task; members: Member[]; columns: BoardColumn[] }) {
  const assignee = members.find((m) => m.user_id === task.assignee_id);
  const column = columns.find((c) => c.id === task.column_id);
  return (
    <dl className="task-readonly">
      <dt>Description</dt>
      <dd>{task.description || "—"}</dd>
      <dt>Column</dt>
      <dd>{column ? `${column.name} (${STATUS_LABELS[task.status]})` : STATUS_LABELS[task.status]}</dd>
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


