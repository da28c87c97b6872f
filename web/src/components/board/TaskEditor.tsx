import { useEffect, useLayoutEffect, useState, type FormEvent } from "react";
import { ApiError } from "../../api/errors";
import type { BoardColumn, Member, Task } from "../../api/types";
import { PRIORITIES } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { changedFields, changesFrom, formFieldOf, formFromTask, mergeMine, type TaskForm } from "../../board/taskForm";
import { Alert } from "../Alert";
import { SelectField, TextAreaField, TextField } from "../Field";
import { useAction } from "../useAction";
import { maxLength, required, validate } from "../validation";
import { ConflictPanel } from "./ConflictPanel";
import type { TaskActions } from "./useTaskActions";

interface Props {
  /** The task as the live state has it now. */
  task: Task;
  members: Member[];
  /** The board's columns, in order: the task can go to any of them. */
  columns: BoardColumn[];
  actions: TaskActions;
  /** Unsaved changes kept from before (the role came back, the dialog reopened), to start from. */
  initialDraft?: TaskForm | null;
  /** Told the unsaved form after every change: null when there is nothing unsaved. */
  onDraftChange?: (draft: TaskForm | null) => void;
}

/**
 * Edits a task against the version it started from (If-Match). While the form is
 * untouched it follows live changes; once touched, a newer version elsewhere is
 * flagged, and saving over it leads to an explicit choice (ConflictPanel).
 */
export function TaskEditor({ task, members, columns, actions, initialDraft, onDraftChange }: Props) {
  const api = useApi();
  const [base, setBase] = useState(task);
  const [form, setForm] = useState<TaskForm>(() => initialDraft ?? formFromTask(task));
  const [theirs, setTheirs] = useState<Task | null>(null);
  const [saved, setSaved] = useState(false);
  const dirty = changedFields(formFromTask(base), form).length > 0;

  useEffect(() => {
    if (!dirty && !theirs && task.version > base.version) {
      setBase(task);
      setForm(formFromTask(task));
    }
  }, [task, dirty, theirs, base.version]);

  // A layout effect: the dialog must know about unsaved changes before the next key press.
  useLayoutEffect(() => {
    onDraftChange?.(dirty ? form : null);
  }, [dirty, form, onDraftChange]);

  const commit = async (from: Task, draft: TaskForm) => {
    const changes = changesFrom(from, draft);
    if (Object.keys(changes).length === 0) return;
    try {
      const updated = await actions.update(from, changes, from.version);
      setBase(updated);
      setForm(formFromTask(updated));
      setTheirs(null);
      setSaved(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        setTheirs(err.problem.current ?? (await api.tasks.get(from.id)));
        return;
      }
      throw err;
    }
  };

  const save = useAction(() => commit(base, form));
  const keepMine = useAction(async () => {
    if (!theirs) return;
    const merged = mergeMine(theirs, base, form);
    setBase(theirs);
    setForm(merged);
    await commit(theirs, merged);
  });

  const takeTheirs = () => {
    if (!theirs) return;
    setBase(theirs);
    setForm(formFromTask(theirs));
    setTheirs(null);
  };

  const set = <K extends keyof TaskForm>(key: K, value: TaskForm[K]) => {
    setSaved(false);
    setForm((f) => ({ ...f, [key]: value }));
  };

  const apiFields = { ...save.fields, ...keepMine.fields };
  const errorOf = (field: keyof TaskForm) =>
    Object.entries(apiFields).find(([api]) => formFieldOf(api) === field)?.[1];
  const [titleError, setTitleError] = useState<string | null>(null);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const problem = validate({ title: form.title }, { title: [required("a title"), maxLength(200)] }).title ?? null;
    setTitleError(problem);
    if (problem) e.currentTarget.querySelector<HTMLElement>('[name="title"]')?.focus();
    else void save.run();
  };

  return (
    <>
      {theirs && (
        <ConflictPanel theirs={theirs} mine={form} base={base} members={members} columns={columns}
          pending={keepMine.pending} onKeepMine={() => void keepMine.run()} onTakeTheirs={takeTheirs} />
      )}
      {!theirs && dirty && task.version > base.version && (
        <Alert kind="info">Someone else has just changed this task. If you save, you can compare both versions first.</Alert>
      )}
      <Alert>{save.message ?? keepMine.message}</Alert>
      {saved && !dirty && <Alert kind="success">Saved.</Alert>}
      <form className="task-editor" onSubmit={onSubmit} noValidate>
        <TextField label="Title" name="title" required maxLength={200} value={form.title}
          onChange={(e) => { set("title", e.target.value); setTitleError(null); }} error={titleError ?? errorOf("title")} />
        <TextAreaField label="Description" name="description" rows={4} value={form.description}
          onChange={(e) => set("description", e.target.value)} error={errorOf("description")} />
        <div className="field-row">
          <SelectField label="Column" name="column" value={form.column}
            onChange={(e) => set("column", e.target.value)}
            options={[
              ...columns.map((c) => ({ value: c.id, label: c.name })),
              // Its column was just deleted (its move is on the way): say so rather than show another.
              ...(columns.some((c) => c.id === form.column) ? [] : [{ value: form.column, label: "(a deleted column)" }]),
            ]} error={errorOf("column")} />
          <SelectField label="Priority" name="priority" value={form.priority}
            onChange={(e) => set("priority", e.target.value as TaskForm["priority"])}
            options={PRIORITIES.map((p) => ({ value: p, label: p[0]!.toUpperCase() + p.slice(1) }))} error={errorOf("priority")} />
        </div>
        <div className="field-row">
          <TextField label="Due date" type="date" name="due_date" value={form.due}
            onChange={(e) => set("due", e.target.value)} error={errorOf("due")} />
          <SelectField label="Assignee" name="assignee" value={form.assignee}
            onChange={(e) => set("assignee", e.target.value)} error={errorOf("assignee")}
            options={[{ value: "", label: "Unassigned" }, ...members.map((m) => ({ value: m.user_id, label: m.name }))]} />
        </div>
        <TextField label="Tags" name="tags" hint="Separate tags with commas." value={form.tags}
          onChange={(e) => set("tags", e.target.value)} error={errorOf("tags")} />
        <div className="button-row">
          <button type="submit" disabled={save.pending || !dirty || theirs !== null}>
            {save.pending ? "Saving…" : "Save changes"}
          </button>
          {dirty && !theirs && (
            <button type="button" className="button-secondary" onClick={() => setForm(formFromTask(base))}>
              Discard changes
            </button>
          )}
        </div>
      </form>
    </>
  );
}
