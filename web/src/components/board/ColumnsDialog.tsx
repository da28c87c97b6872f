import { useEffect, useRef, useState, type FormEvent } from "react";
import type { Board, BoardColumn, Status } from "../../api/types";
import { STATUSES } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { CATEGORY_LABELS, cannotDelete, moveTargets, nameTaken, parseWipLimit, reordered } from "../../board/columnAdmin";
import { Alert } from "../Alert";
import { SelectField, TextField } from "../Field";
import { useAction } from "../useAction";

interface Props {
  board: Board;
  /** Tasks per column id (all of them, not only those a filter shows). */
  counts: Readonly<Record<string, number>>;
  onClose: () => void;
}

/**
 * "Manage columns" (owners and editors): add, rename, set WIP limits, reorder with up and
 * down buttons, delete (naming where the column's tasks go). The list follows the board
 * live, so another member's change shows here too.
 */
export function ColumnsDialog({ board, counts, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const api = useApi();
  const [status, setStatus] = useState("");
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  // After a move, focus goes back to the same button once the list shows the new order (it
  // arrives with board:updated; moving a focused element in the DOM drops its focus).
  const [refocus, setRefocus] = useState<{ id: string; index: number; delta: -1 | 1 } | null>(null);
  useEffect(() => {
    if (!refocus || board.columns[refocus.index]?.id !== refocus.id) return;
    document.querySelector<HTMLElement>(`[data-column-admin="${CSS.escape(refocus.id)}"] [data-move="${refocus.delta}"]`)?.focus();
    setRefocus(null);
  }, [board.columns, refocus]);
  const move = useAction(async (index: number, delta: -1 | 1) => {
    const ids = reordered(board.columns, index, delta);
    if (!ids) return;
    const moved = board.columns[index]!;
    setRefocus({ id: moved.id, index: index + delta, delta });
    await api.boards.orderColumns(board.id, ids);
    setStatus(`Moved ${moved.name} ${delta < 0 ? "left" : "right"}.`);
  });

  return (
    <dialog ref={dialog} className="columns-dialog" aria-labelledby="columns-dialog-title" data-testid="columns-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClose={onClose}>
      <div className="dialog-head">
        <h2 id="columns-dialog-title">Manage columns</h2>
        <button type="button" className="icon-button close-button" aria-label="Close manage columns" onClick={onClose}>
          <span aria-hidden="true">×</span>
        </button>
      </div>
      <p className="muted">
        A column's category (to do, in progress, done) is the status of its tasks and is fixed. A full column is marked
        on the board; moving a task into it is still allowed.
      </p>
      <Alert>{move.message}</Alert>
      <p className="visually-hidden" role="status" aria-live="polite">
        {status}
      </p>
      <ol className="column-admin-list">
        {board.columns.map((column, index) => (
          <ColumnRow key={column.id} board={board} column={column} index={index} count={counts[column.id] ?? 0}
            onMove={(delta) => void move.run(index, delta)} onStatus={setStatus} />
        ))}
      </ol>
      <AddColumn board={board} onStatus={setStatus} />
    </dialog>
  );
}

function ColumnRow({ board, column, index, count, onMove, onStatus }: {
  board: Board;
  column: BoardColumn;
  index: number;
  count: number;
  /** Moves from the order on screen: the next move may start before the last one's answer. */
  onMove: (delta: -1 | 1) => void;
  onStatus: (message: string) => void;
}) {
  const api = useApi();
  const [name, setName] = useState(column.name);
  const [wip, setWip] = useState(column.wip_limit === null ? "" : String(column.wip_limit));
  const [localError, setLocalError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const targets = moveTargets(board.columns, column);
  const [target, setTarget] = useState(targets[0]?.id ?? "");
  // Follow live changes by others while this row is untouched.
  const [shown, setShown] = useState(column);
  useEffect(() => {
    if (name === shown.name) setName(column.name);
    if (wip === (shown.wip_limit === null ? "" : String(shown.wip_limit))) setWip(column.wip_limit === null ? "" : String(column.wip_limit));
    setShown(column);
  }, [column.name, column.wip_limit]);

  const save = useAction(async () => {
    const changes: { name?: string; wip_limit?: number | null } = {};
    const limit = parseWipLimit(wip);
    if ("error" in limit) throw new Error(limit.error);
    if (name.trim() !== column.name) changes.name = name.trim();
    if (limit.value !== column.wip_limit) changes.wip_limit = limit.value;
    if (Object.keys(changes).length > 0) await api.boards.updateColumn(board.id, column.id, changes);
    onStatus(`Saved ${name.trim()}.`);
  });
  const remove = useAction(async () => {
    await api.boards.removeColumn(board.id, column.id, count > 0 ? target : undefined);
    onStatus(`Deleted ${column.name}.`);
  });
  const blocked = cannotDelete(board.columns, column);
  const onSave = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setLocalError("Enter a name.");
    if (nameTaken(board.columns, name, column.id)) return setLocalError("Another column has that name.");
    setLocalError(null);
    void save.run();
  };
  const label = `${column.name} (${CATEGORY_LABELS[column.category]})`;
  return (
    <li className="column-admin" data-column-admin={column.id}>
      <form onSubmit={onSave} noValidate aria-label={`Column ${label}`}>
        <fieldset>
          <legend>
            {label} · {count} {count === 1 ? "task" : "tasks"}
          </legend>
          <Alert>{localError ?? save.message ?? remove.message}</Alert>
          <div className="column-admin-fields">
            <TextField label="Name" name="name" value={name} maxLength={60} required
              onChange={(e) => setName(e.target.value)} error={save.fields.name} />
            <TextField label="WIP limit" name="wip_limit" value={wip} inputMode="numeric" hint="Empty: no limit"
              onChange={(e) => setWip(e.target.value)} error={save.fields.wip_limit} />
          </div>
          <div className="column-admin-actions">
            <button type="submit" disabled={save.pending}>Save</button>
            <button type="button" className="button-secondary" data-move="-1"
              aria-disabled={index === 0} onClick={() => index > 0 && onMove(-1)}>
              Move <span className="visually-hidden">{column.name} </span>left
            </button>
            <button type="button" className="button-secondary" data-move="1"
              aria-disabled={index === board.columns.length - 1}
              onClick={() => index < board.columns.length - 1 && onMove(1)}>
              Move <span className="visually-hidden">{column.name} </span>right
            </button>
            <button type="button" className="button-danger" aria-disabled={blocked !== null}
              aria-describedby={blocked ? `cannot-delete-${column.id}` : undefined}
              onClick={() => blocked === null && setDeleting(true)}>
              Delete {column.name}
            </button>
          </div>
          {blocked && <p id={`cannot-delete-${column.id}`} className="field-hint">{blocked}</p>}
          {deleting && (
            <div className="column-admin-delete" role="group" aria-label={`Delete ${column.name}`}>
              {count > 0 ? (
                <SelectField label={`Move its ${count} ${count === 1 ? "task" : "tasks"} to`} name="move_to" value={target}
                  onChange={(e) => setTarget(e.target.value)}
                  options={targets.map((c) => ({ value: c.id, label: `${c.name} (${CATEGORY_LABELS[c.category]})` }))} />
              ) : (
                <p>It holds no tasks.</p>
              )}
              <button type="button" className="button-danger" disabled={remove.pending} onClick={() => void remove.run()}>
                Delete column
              </button>
              <button type="button" className="button-secondary" onClick={() => setDeleting(false)}>Keep it</button>
            </div>
          )}
        </fieldset>
      </form>
    </li>
  );
}

function AddColumn({ board, onStatus }: { board: Board; onStatus: (message: string) => void }) {
  const api = useApi();
  const [name, setName] = useState("");
  const [category, setCategory] = useState<Status>("in_progress");
  const [wip, setWip] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const add = useAction(async () => {
    const limit = parseWipLimit(wip);
    if ("error" in limit) throw new Error(limit.error);
    const column = await api.boards.addColumn(board.id, { name: name.trim(), category, wip_limit: limit.value });
    setName("");
    setWip("");
    onStatus(`Added ${column.name}.`);
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setLocalError("Enter a name for the new column.");
    if (nameTaken(board.columns, name)) return setLocalError("Another column has that name.");
    setLocalError(null);
    void add.run();
  };
  return (
    <form className="column-add" onSubmit={onSubmit} noValidate aria-labelledby="column-add-title">
      <h3 id="column-add-title">Add a column</h3>
      <Alert>{localError ?? add.message}</Alert>
      <div className="column-admin-fields">
        <TextField label="New column name" name="name" value={name} maxLength={60} required
          onChange={(e) => setName(e.target.value)} error={add.fields.name} />
        <SelectField label="Category" name="category" value={category}
          onChange={(e) => setCategory(e.target.value as Status)}
          options={STATUSES.map((s) => ({ value: s, label: CATEGORY_LABELS[s] }))} />
        <TextField label="New column WIP limit" name="wip_limit" value={wip} inputMode="numeric" hint="Empty: no limit"
          onChange={(e) => setWip(e.target.value)} error={add.fields.wip_limit} />
      </div>
      <button type="submit" disabled={add.pending || board.columns.length >= 50}>Add column</button>
    </form>
  );
}
