import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { errorMessage } from "../api/errors";
import type { SearchHit } from "../api/types";
import { useApi } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { TextField } from "../components/Field";
import { usePageTitle } from "../components/usePageTitle";
import { appendHits, groupByBoard, matchedText, searchError, taskPath } from "../search/results";

const HELP =
  'All words must match, in titles, descriptions or comments; "quoted words" match as a phrase. ' +
  'Filters: assignee:me (or none, or an email), status:todo|in_progress|done, tag:name, ' +
  'due:<7d, due:>2w, due:overdue, board:"Board name".';

/** Search across every board the user is a member of, results grouped by board. */
export default function SearchPage() {
  usePageTitle("Search");
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const asked = useRef(0);

  useEffect(() => {
    setText(q);
    setHits(null);
    setCursor(null);
    setError(null);
    if (!q.trim()) return;
    const controller = new AbortController();
    const mine = ++asked.current;
    setBusy(true);
    api.search.search(q, { signal: controller.signal }).then(
      (page) => {
        if (mine !== asked.current) return;
        setHits(page.items);
        setCursor(page.next_cursor);
      },
      (err: unknown) => {
        if (mine !== asked.current || controller.signal.aborted) return;
        setError(searchError(err, errorMessage));
      },
    ).finally(() => mine === asked.current && setBusy(false));
    return () => controller.abort();
  }, [api, q]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };

  const more = () => {
    if (!cursor) return;
    const mine = ++asked.current;
    setBusy(true);
    api.search.search(q, { cursor }).then(
      (page) => {
        if (mine !== asked.current) return;
        setHits((shown) => appendHits(shown ?? [], page.items));
        setCursor(page.next_cursor);
      },
      (err: unknown) => mine === asked.current && setError(searchError(err, errorMessage)),
    ).finally(() => mine === asked.current && setBusy(false));
  };

  const groups = hits ? groupByBoard(hits) : [];
  return (
    <section aria-labelledby="search-title" className="search-page">
      <h1 id="search-title">Search all boards</h1>
      <form role="search" aria-label="Search all boards" className="search-form" onSubmit={submit}>
        <TextField label="Search" type="search" name="q" value={text} maxLength={500} hint={HELP}
          onChange={(e) => setText(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <Alert>{error}</Alert>
      {busy && hits === null && <p className="loading">Searching…</p>}
      {hits !== null && (
        <p role="status" data-testid="search-count">
          {hits.length === 0 ? "No tasks match." : `${hits.length}${cursor ? "+" : ""} tasks on ${groups.length} ${groups.length === 1 ? "board" : "boards"}`}
        </p>
      )}
      {groups.map((group) => (
        <section key={group.board.id} className="search-group" aria-labelledby={`search-board-${group.board.id}`}
          data-testid="search-group">
          <h2 id={`search-board-${group.board.id}`}>
            <Link to={`/boards/${encodeURIComponent(group.board.id)}`}>{group.board.name}</Link>
          </h2>
          <ul className="search-hits">
            {group.hits.map((hit) => (
              <li key={hit.task.id} className="search-hit">
                <Link to={taskPath(hit)} className="search-hit-title">{hit.task.title}</Link>
                <span className="search-hit-meta">
                  {hit.task.status.replace("_", " ")}
                  {hit.matched_in.length > 0 && ` · ${matchedText(hit.matched_in)}`}
                </span>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {cursor && (
        <button type="button" className="button-secondary" disabled={busy} onClick={more}>
          More results
        </button>
      )}
    </section>
  );
}
