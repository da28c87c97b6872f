import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import type { Board } from "../api/types";
import { errorMessage } from "../api/errors";
import { useApi, useServices } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { coalesce } from "../live/coalesce";
import { TextAreaField, TextField } from "../components/Field";
import { useAction } from "../components/useAction";
import { usePageTitle } from "../components/usePageTitle";
import { maxLength, required, useFieldErrors, validate } from "../components/validation";

const ROLE_LABEL = { owner: "Owner", editor: "Editor", viewer: "Viewer" } as const;

export default function BoardsPage() {
  usePageTitle("Boards");
  const { api, connection } = useServices();
  const [boards, setBoards] = useState<Board[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  const load = useMemo(
    () =>
      coalesce(() =>
        api.boards.list().then(
          (list) => {
            setBoards(list);
            setLoadError(null);
          },
          (err: unknown) => setLoadError(errorMessage(err)),
        ),
      ),
    [api],
  );

  useEffect(() => {
    void load();
    // A board of ours appeared, changed or went away (`boards:changed`, sent to each of the
    // user's connections); after a reconnect, or when the tab comes back, one may have been missed.
    const offChanged = connection.on("boards:changed", () => void load());
    const offConnect = connection.onConnect(() => void load());
    const onVisible = () => document.visibilityState === "visible" && void load();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      offChanged();
      offConnect();
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [load, connection]);

  return (
    <section aria-labelledby="boards-title">
      <div className="page-title-row">
        <h1 id="boards-title">Boards</h1>
        <button type="button" className="button-secondary" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <Alert>{loadError}</Alert>
      {boards === null && !loadError && <p className="loading">Loading boards…</p>}
      {boards && boards.length === 0 && <p>No boards yet. Create one below.</p>}
      {boards && boards.length > 0 && (
        <ul className="board-list">
          {boards.map((b) => (
            <li key={b.id}>
              <Link to={`/boards/${b.id}`} className="board-link">
                <span className="board-name">{b.name}</span>
                {b.description && <span className="board-description">{b.description}</span>}
              </Link>
              <span className="board-meta">
                {b.role ? ROLE_LABEL[b.role] : ""} · {b.members.length} {b.members.length === 1 ? "member" : "members"}
              </span>
            </li>
          ))}
        </ul>
      )}
      <NewBoardForm />
      <ImportBoardForm />
    </section>
  );
}

/** A new board from a file: a TaskFlow export or a Trello board export (Trello: … → Export as JSON). */
function ImportBoardForm() {
  const api = useApi();
  const navigate = useNavigate();
  const [file, setFile] = useState<File | null>(null);
  const importing = useAction(async (chosen: File) => {
    const board = await api.boards.importFile(chosen);
    navigate(`/boards/${board.id}`);
  });
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (file) void importing.run(file);
  };
  return (
    <form className="card import-board" onSubmit={onSubmit} aria-labelledby="import-board-title" noValidate>
      <h2 id="import-board-title">Import a board</h2>
      <Alert>{importing.message}</Alert>
      <TextField label="Export file (JSON)" name="file" type="file" accept=".json,application/json"
        hint="A TaskFlow board export, or a Trello board exported as JSON. It becomes a new board of yours."
        onChange={(e) => { setFile(e.target.files?.[0] ?? null); importing.reset(); }} />
      <button type="submit" disabled={!file || importing.pending}>
        {importing.pending ? "Importing…" : "Import board"}
      </button>
    </form>
  );
}

function NewBoardForm() {
  const api = useApi();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useAction(async () => {
    const board = await api.boards.create(description.trim() ? { name: name.trim(), description } : { name: name.trim() });
    navigate(`/boards/${board.id}`);
  });
  const errors = useFieldErrors(create);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const problems = validate({ name }, { name: [required("a name for the board"), maxLength(100)] });
    if (errors.check(e.currentTarget, problems)) void create.run();
  };
  return (
    <form className="card new-board" onSubmit={onSubmit} aria-labelledby="new-board-title" noValidate>
      <h2 id="new-board-title">New board</h2>
      <Alert>{errors.formMessage(["name", "description"])}</Alert>
      <TextField label="Board name" name="name" required value={name}
        onChange={(e) => { setName(e.target.value); errors.edited("name"); }} error={errors.errorOf("name")} />
      <TextAreaField label="Description" name="description" rows={2} value={description}
        onChange={(e) => { setDescription(e.target.value); errors.edited("description"); }} error={errors.errorOf("description")} />
      <button type="submit" disabled={create.pending}>
        {create.pending ? "Creating…" : "Create board"}
      </button>
    </form>
  );
}
