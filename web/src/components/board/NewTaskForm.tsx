import { useState, type FormEvent } from "react";
import type { Status } from "../../api/types";
import { STATUS_LABELS } from "../../api/types";
import { Alert } from "../Alert";
import { TextField } from "../Field";
import { useAction } from "../useAction";
import type { TaskActions } from "./useTaskActions";

/** A one-line form at the bottom of a column. */
export function NewTaskForm({ boardId, status, actions }: { boardId: string; status: Status; actions: TaskActions }) {
  const [title, setTitle] = useState("");
  const create = useAction(async () => {
    await actions.create({ board_id: boardId, title: title.trim(), status });
    setTitle("");
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (title.trim()) void create.run();
  };
  return (
    <form className="new-task" onSubmit={onSubmit} noValidate>
      <Alert>{create.fields.title ? null : create.message}</Alert>
      <TextField label={`New task in ${STATUS_LABELS[status]}`} name="title" value={title} maxLength={200}
        onChange={(e) => setTitle(e.target.value)} error={create.fields.title} />
      <button type="submit" disabled={create.pending || !title.trim()}>
        Add task
      </button>
    </form>
  );
}
