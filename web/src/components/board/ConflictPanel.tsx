import { useLayoutEffect, useRef } from "react";
import type { BoardColumn, Member, Task } from "../../api/types";
import { changedFields, FIELD_LABELS, formFromTask, type TaskForm, type TaskFormField } from "../../board/taskForm";

interface Props {
  theirs: Task;
  mine: TaskForm;
  /** The version my edit started from. */
  base: Task;
  members: Member[];
  columns: BoardColumn[];
  pending: boolean;
  onKeepMine: () => void;
  onTakeTheirs: () => void;
}

function display(field: TaskFormField, form: TaskForm, members: Member[], columns: BoardColumn[]): string {
  const value = form[field];
  if (field === "column") return columns.find((c) => c.id === value)?.name ?? "a deleted column";
  if (field === "assignee") return value ? (members.find((m) => m.user_id === value)?.name ?? "Someone") : "Unassigned";
  return value === "" ? "—" : value;
}

/**
 * Someone saved the task after this edit began. Shows both versions of every field
 * that either side changed, and lets the user keep theirs or take the other one.
 */
export function ConflictPanel({ theirs, mine, base, members, columns, pending, onKeepMine, onTakeTheirs }: Props) {
  const heading = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => heading.current?.focus(), [theirs.version]); // in the commit that shows it, not a frame later
  const baseForm = formFromTask(base);
  const theirsForm = formFromTask(theirs);
  const fields = [...new Set([...changedFields(baseForm, mine), ...changedFields(baseForm, theirsForm)])];

  return (
    <section className="conflict" aria-labelledby="conflict-title" data-testid="conflict">
      <h3 id="conflict-title" ref={heading} tabIndex={-1}>
        This task was changed by someone else while you were editing
      </h3>
      <p>
        Your edit started from version {base.version}; the task is now at version {theirs.version}. Nothing has been
        overwritten. Choose which version to keep.
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Your version</th>
            <th scope="col">Their version</th>
          </tr>
        </thead>
        <tbody>
          {fields.map((f) => (
            <tr key={f}>
              <th scope="row">{FIELD_LABELS[f]}</th>
              <td>{display(f, mine, members, columns)}</td>
              <td>{display(f, theirsForm, members, columns)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="button-row">
        <button type="button" onClick={onKeepMine} disabled={pending}>
          Keep mine
        </button>
        <button type="button" className="button-secondary" onClick={onTakeTheirs} disabled={pending}>
          Take theirs
        </button>
      </div>
      <p className="muted">“Keep mine” saves your changes on top of their version; their other changes stay.</p>
    </section>
  );
}
