"""Comments on tasks."""

from __future__ import annotations

from taskflow.domain import Comment, Page
from taskflow.errors import Forbidden, NotFound
from taskflow.ids import new_id
from taskflow.services.access import Actor, task_for
from taskflow.services.changes import Change, Recorder
from taskflow.services.cursors import decode_time_cursor, encode_time_cursor
from taskflow.services.notifications import Outbox, mentioned, watch_in, watchers
from taskflow.services.ports import Store
from taskflow.services.views import comment_view


class CommentService:
    def __init__(self, *, store: Store, recorder: Recorder) -> None:
        self._store = store
        self._recorder = recorder

    async def list(self, actor: Actor, task_id: str, *, limit: int = 50,
                   cursor: str | None = None) -> Page[Comment]:
        task, _ = await task_for(self._store, task_id, actor)
        after = decode_time_cursor(cursor) if cursor else None
        comments = await self._store.select_comments(task.board_id, task_id, limit=limit + 1,
                                                     after=after)
        last = comments[limit - 1] if len(comments) > limit else None
        next_cursor = encode_time_cursor(last.created_at, last.id) if last else None
        return Page(items=comments[:limit], next_cursor=next_cursor)

    async def create(self, actor: Actor, task_id: str, *, body: str) -> Comment:
        async def work(change: Change) -> Comment:
            task, board = await task_for(change.tx, task_id, actor, "editor")
            comment = Comment(id=new_id(), task_id=task_id, board_id=task.board_id,
                              author_id=actor.user_id, body=body, created_at=change.clock.now())
            await change.tx.insert_comment(comment)
            await change.record(task.board_id, "comment:created", comment_view(comment))
            outbox = Outbox()
            outbox.add(mentioned(body, board.members), "mentioned")
            outbox.add(await watchers(change, task.board_id, task_id), "commented")
            await outbox.deliver(change, board, task, body)
            await watch_in(change, actor.user_id, task.board_id, task_id)
            return comment

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, task_id: str, comment_id: str) -> None:
        """The author or the board's owner may delete a comment."""
        async def work(change: Change) -> None:
            # The task names the board, which is where the comment is looked up (and routed).
            task = await change.tx.select_task(task_id)
            comment = await change.tx.select_comment(task.board_id, comment_id) if task else None
            if comment is None or comment.task_id != task_id:
                raise NotFound("Comment not found")
            board = await change.tx.select_board(comment.board_id)
            role = board.role_of(actor.user_id) if board else None
            if role is None:
                raise NotFound("Comment not found")
            if comment.author_id != actor.user_id and role != "owner":
                raise Forbidden("Only the author or the board's owner may delete a comment")
            await change.tx.delete_comment(comment.board_id, comment_id)
            await change.record(comment.board_id, "comment:deleted",
                                {"id": comment_id, "task_id": task_id})

        await self._recorder.run(actor.user_id, work)
