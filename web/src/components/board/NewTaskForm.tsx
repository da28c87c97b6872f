import { useState, type FormEvent } from "react";
import type { BoardColumn } from "../../api/types";
import { Alert } from "../Alert";
import { TextField } from "../Field";
import { useAction } from "../useAction";
import { maxLength, useFieldErrors, validate } from "../validation";
import type { TaskActions } from "./useTaskActions";

/** A one-line form at the bottom of a column. */
export function NewTaskForm({ boardId, column, actions }: { boardId: string; column: BoardColumn; actions: TaskActions }) {
  const [title, setTitle] = useState("");
  const create = useAction(async () => {
    await actions.create({ board_id: boardId, title: title.trim(), column_id: column.id });
    setTitle("");
  });
  const errors = useFieldErrors(create);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (title.trim() && errors.check(e.currentTarget, validate({ title }, { title: [maxLength(200)] }))) void create.run();
  };
  return (
    <form className="new-task" onSubmit={onSubmit} noValidate>
      <Alert>{errors.formMessage(["title"])}</Alert>
      <TextField label={`New task in ${column.name}`} name="title" value={title} maxLength={200}
        onChange={(e) => { setTitle(e.target.value); errors.edited("title"); }} error={errors.errorOf("title")} />
      <button type="submit" disabled={create.pending || !title.trim()}>
        Add task
      </button>
    </form>
  );
}
