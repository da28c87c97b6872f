import { ApiError } from "../api/errors";
import type { SearchField, SearchHit } from "../api/types";

export interface BoardGroup {
  board: { id: string; name: string };
  hits: SearchHit[];
}

/** Hits grouped by board, boards in the order of their first hit (the server's order: newest change first). */
export function groupByBoard(hits: readonly SearchHit[]): BoardGroup[] {
  const groups = new Map<string, BoardGroup>();
  for (const hit of hits) {
    let group = groups.get(hit.board.id);
    if (!group) {
      group = { board: hit.board, hits: [] };
      groups.set(hit.board.id, group);
    }
    group.hits.push(hit);
  }
  return [...groups.values()];
}

/** Adds a page of hits, dropping any already shown (a task can't appear twice). */
export function appendHits(shown: readonly SearchHit[], more: readonly SearchHit[]): SearchHit[] {
  const seen = new Set(shown.map((h) => h.task.id));
  return [...shown, ...more.filter((h) => !seen.has(h.task.id))];
}

/** The cross-board search page for a query. */
export function searchPath(q: string): string {
  return `/search?${new URLSearchParams({ q: q.trim() }).toString()}`;
}

/** The link that opens a hit's task on its board. */
export function taskPath(hit: SearchHit): string {
  return `/boards/${encodeURIComponent(hit.board.id)}/tasks/${encodeURIComponent(hit.task.id)}`;
}

const FIELD_LABEL: Record<SearchField, string> = { title: "title", description: "description", comments: "comments" };

/** "Found in title and comments", or "" when the query had only filters. */
export function matchedText(fields: readonly SearchField[]): string {
  if (fields.length === 0) return "";
  const names = fields.map((f) => FIELD_LABEL[f]);
  const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]!}`;
  return `Found in ${list}`;
}

/** The query the board's own filter text becomes when searching every board. */
export function boardTextToQuery(text: string): string {
  return text.trim().replace(/\s+/g, " ");
}

/** What to say when a search is refused: the server names the part of the query at fault. */
export function searchError(err: unknown, fallback: (err: unknown) => string): string {
  if (err instanceof ApiError && err.status === 422) {
    const first = (err.problem.errors as { msg?: unknown; part?: unknown }[] | undefined)?.[0];
    if (first && typeof first.msg === "string") {
      return typeof first.part === "string" && first.part.trim()
        ? `Can't search for ${first.part.trim()}: ${first.msg}.`
        : `Can't search for that: ${first.msg}.`;
    }
  }
  return fallback(err);
}
