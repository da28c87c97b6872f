"""Search across every board the caller is a member of (GET /api/v1/search)."""

from __future__ import annotations

from typing import Any

from taskflow.domain import Page, SearchQuery
from taskflow.services.access import Actor
from taskflow.services.cursors import decode_search_cursor, encode_search_cursor
from taskflow.services.ports import Clock, Store
from taskflow.services.search_query import BadSearch, parse
from taskflow.services.views import task_view
from taskflow.timefmt import to_ts


class SearchService:
    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def search(self, actor: Actor, q: str, *, limit: int = 50,
                     cursor: str | None = None) -> Page[dict[str, Any]]:
        """Hits `{task, board: {id, name}, matched_in}`, newest change first."""
        parsed = parse(q)
        if not parsed.has_words and not parsed.filters:
            raise BadSearch("needs a word, a phrase or a filter", part=q[:40])
        after = decode_search_cursor(cursor, q) if cursor else None
        boards = await self._store.select_boards_of_user(actor.user_id)
        if parsed.board is not None:
            wanted = parsed.board.casefold()
            boards = [board for board in boards if board.name.casefold() == wanted]
        column_ids: tuple[str, ...] | None = None
        if parsed.column is not None:
            # Names are unique per board ignoring case: at most one column per board.
            wanted = parsed.column.casefold()
            column_ids = tuple(column.id for board in boards for column in board.columns
                               if column.name.casefold() == wanted)
        if parsed.impossible or not boards or column_ids == ():
            return Page(items=[])
        assignee_id = None
        if parsed.assignee == "me":
            assignee_id = actor.user_id
        elif parsed.assignee not in (None, "none"):
            user = await self._store.select_user_by_email(parsed.assignee)
            if user is None:
                return Page(items=[])
            assignee_id = user.id
        now = self._clock.now()
        due_before = due_after = None
        not_done = False
        if parsed.due is not None:
            if parsed.due.span is None:
                due_before, not_done = now, True
            elif parsed.due.before:
                due_before = now + parsed.due.span
            else:
                due_after = now + parsed.due.span
        query = SearchQuery(
            board_ids=tuple(board.id for board in boards), terms=parsed.terms,
            status=parsed.status, assignee_id=assignee_id, unassigned=parsed.assignee == "none",
            tags=parsed.tags, due_before=due_before, due_after=due_after, not_done=not_done,
            column_ids=column_ids, limit=limit + 1, after=after,
        )
        hits = await self._store.search_tasks(query)
        names = {board.id: board.name for board in boards}
        next_cursor = None
        if len(hits) > limit:
            last = hits[limit - 1]
            next_cursor = encode_search_cursor(to_ts(last.task.updated_at), last.task.id, q)
        items = [{"task": task_view(hit.task),
                  "board": {"id": hit.task.board_id, "name": names[hit.task.board_id]},
                  "matched_in": list(hit.matched_in)} for hit in hits[:limit]]
        return Page(items=items, next_cursor=next_cursor)
