import { useState, type FormEvent } from "react";
import type { ChecklistItem, Task } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { movedPosition, progressLabel, progressOf } from "../../board/checklist";
import type { BoardSync } from "../../live/boardSync";
import { Alert } from "../Alert";
import { TextField } from "../Field";
import { useAction } from "../useAction";

interface Props {
  task: Task;
  canEdit: boolean;
  sync: BoardSync;
}

/**
 * The task's checklist: tick, rename, reorder (buttons, so keyboards can), delete, add.
 * Each write is applied from the server's answer at once; other people's arrive live.
 */
export function ChecklistSection({ task, canEdit, sync }: Props) {
  const api = useApi();
  const [text, setText] = useState("");
  const [renaming, setRenaming] = useState<{ id: string; text: string } | null>(null);
  const items = task.checklist ?? [];
  const progress = progressOf(items);
  const headingId = `checklist-${task.id}`;

  // The answer is the item; the task (its new version) is read back so the card updates at once.
  const refresh = async () => sync.applyLocalTask(await api.tasks.get(task.id));
  // A tick, rename or move shows at once (same version: the server's answer or event replaces
  // it); if the server refuses, the task as it was comes back.
  const change = useAction(async (item: ChecklistItem, changes: Partial<Omit<ChecklistItem, "id">>) => {
    const checklist = items
      .map((i) => (i.id === item.id ? { ...i, ...changes } : i))
      .sort((a, b) => a.position - b.position);
    sync.applyLocalTask({ ...task, checklist });
    try {
      await api.tasks.updateChecklistItem(task.id, item.id, changes);
    } catch (err) {
      sync.applyLocalTask(task);
      throw err;
    }
    await refresh();
  });
  const remove = useAction(async (item: ChecklistItem) => {
    await api.tasks.removeChecklistItem(task.id, item.id);
    await refresh();
  });
  const add = useAction(async () => {
    await api.tasks.addChecklistItem(task.id, text.trim());
    setText("");
    await refresh();
  });

  const onAdd = (e: FormEvent) => {
    e.preventDefault();
    if (text.trim()) void add.run();
  };
  const onRename = (e: FormEvent, item: ChecklistItem) => {
    e.preventDefault();
    const next = renaming?.text.trim();
    setRenaming(null);
    if (next && next !== item.text) void change.run(item, { text: next });
  };
  const move = (index: number, delta: -1 | 1) => {
    const position = movedPosition(items, index, delta);
    const item = items[index];
    if (position !== null && item) void change.run(item, { position });
  };

  return (
    <section className="checklist" aria-labelledby={headingId} data-testid="checklist">
      <h3 id={headingId}>
        Checklist
        {progress.total > 0 && (
          <span className="checklist-progress">
            {" "}
            <span aria-hidden="true">{progress.done}/{progress.total}</span>
            <span className="visually-hidden">{progressLabel(progress)}</span>
          </span>
        )}
      </h3>
      <Alert>{change.message ?? remove.message}</Alert>
      {items.length === 0 && <p className="muted">No checklist items.</p>}
      {items.length > 0 && (
        <ul className="checklist-items">
          {items.map((item, index) => (
            <li key={item.id} className={item.done ? "done" : undefined} data-testid="checklist-item">
              {renaming?.id === item.id ? (
                <form className="checklist-rename" onSubmit={(e) => onRename(e, item)}>
                  <label className="visually-hidden" htmlFor={`rename-${item.id}`}>
                    New text for “{item.text}”
                  </label>
                  <input id={`rename-${item.id}`} value={renaming.text} maxLength={500} autoFocus
                    onChange={(e) => setRenaming({ id: item.id, text: e.target.value })}
                    onKeyDown={(e) => e.key === "Escape" && (e.preventDefault(), setRenaming(null))} />
                  <button type="submit">Save</button>
                </form>
              ) : (
                <label className="checklist-check">
                  <input type="checkbox" checked={item.done} disabled={!canEdit}
                    onChange={(e) => void change.run(item, { done: e.target.checked })} />
                  <span>{item.text}</span>
                </label>
              )}
              {canEdit && renaming?.id !== item.id && (
                <span className="checklist-tools" role="group" aria-label={`Edit “${item.text}”`}>
                  <button type="button" className="icon-button" aria-label={`Move “${item.text}” up`}
                    aria-disabled={index === 0} onClick={() => move(index, -1)}>
                    <span aria-hidden="true">↑</span>
                  </button>
                  <button type="button" className="icon-button" aria-label={`Move “${item.text}” down`}
                    aria-disabled={index === items.length - 1} onClick={() => move(index, 1)}>
                    <span aria-hidden="true">↓</span>
                  </button>
                  <button type="button" className="link-button" aria-label={`Rename “${item.text}”`}
                    onClick={() => setRenaming({ id: item.id, text: item.text })}>
                    Rename
                  </button>
                  <button type="button" className="link-button" aria-label={`Delete “${item.text}”`}
                    onClick={() => void remove.run(item)}>
                    Delete
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {canEdit && items.length < 100 && (
        <form className="checklist-add" onSubmit={onAdd} noValidate>
          <Alert>{add.fields.text ? null : add.message}</Alert>
          <TextField label="Add an item" name="text" value={text} maxLength={500}
            onChange={(e) => setText(e.target.value)} error={add.fields.text} />
          <button type="submit" disabled={add.pending || !text.trim()}>
            {add.pending ? "Adding…" : "Add item"}
          </button>
        </form>
      )}
    </section>
  );
}
