import { useEffect, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import type { Board } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { Alert } from "../Alert";
import { TextAreaField, TextField } from "../Field";
import { useAction } from "../useAction";
import { maxLength, required, useFieldErrors, validate } from "../validation";
import { BoardExport } from "./BoardTransfer";

/** Rename and describe the board (owner, editor); export it (anyone); delete it (owner). */
export function BoardSettings({ board, canRename, isOwner }: { board: Board; canRename: boolean; isOwner: boolean }) {
  const api = useApi();
  const navigate = useNavigate();
  const [name, setName] = useState(board.name);
  const [description, setDescription] = useState(board.description);
  const [confirming, setConfirming] = useState(false);
  const [saved, setSaved] = useState(false);

  // Follow live renames while the form is untouched.
  const [shown, setShown] = useState(board);
  useEffect(() => {
    if (name === shown.name && description === shown.description) {
      setName(board.name);
      setDescription(board.description);
    }
    setShown(board);
  }, [board.name, board.description]);

  const rename = useAction(async () => {
    const changes: { name?: string; description?: string } = {};
    if (name.trim() !== board.name) changes.name = name.trim();
    if (description !== board.description) changes.description = description;
    if (Object.keys(changes).length > 0) await api.boards.update(board.id, changes);
    setSaved(true);
  });
  const remove = useAction(async () => {
    await api.boards.remove(board.id);
    navigate("/boards", { replace: true });
  });

  const errors = useFieldErrors(rename);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setSaved(false);
    if (errors.check(e.currentTarget, validate({ name }, { name: [required("a name for the board"), maxLength(100)] }))) {
      void rename.run();
    }
  };

  return (
    <section className="board-settings" aria-labelledby="settings-title">
      <h2 id="settings-title">Board settings</h2>
      {canRename && (
        <form onSubmit={onSubmit} noValidate>
          <Alert>{errors.formMessage(["name", "description"])}</Alert>
          {saved && <Alert kind="success">Board saved.</Alert>}
          <TextField label="Board name" name="name" required value={name}
            onChange={(e) => { setName(e.target.value); setSaved(false); errors.edited("name"); }} error={errors.errorOf("name")} />
          <TextAreaField label="Board description" name="description" rows={2} value={description}
            onChange={(e) => setDescription(e.target.value)} error={rename.fields.description} />
          <button type="submit" disabled={rename.pending}>
            Save board
          </button>
        </form>
      )}
      <BoardExport board={board} />
      {isOwner && (
        <div className="danger-zone">
          <Alert>{remove.message}</Alert>
          {!confirming ? (
            <button type="button" className="button-danger" onClick={() => setConfirming(true)}>
              Delete board
            </button>
          ) : (
            <div className="button-row" role="group" aria-label="Confirm board deletion">
              <span>Delete “{board.name}” and all its tasks for everyone?</span>
              <button type="button" className="button-danger" disabled={remove.pending} onClick={() => void remove.run()}>
                Yes, delete board
              </button>
              <button type="button" className="button-secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
