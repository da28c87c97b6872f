"""Files on tasks: uploaded through the API, or straight to S3 and confirmed afterwards."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import IO

from loguru import logger

from taskflow.domain import Attachment, Download, Task
from taskflow.errors import Conflict, NotFound, PayloadTooLarge
from taskflow.ids import new_id
from taskflow.services.access import Actor, task_for
from taskflow.services.changes import Change, Recorder
from taskflow.services.ports import BlobStore, Reader, Store, Transaction
from taskflow.services.views import attachment_view

MAX_FILENAME_CHARS = 200
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def safe_filename(name: str) -> str:
    """The last path part, without control or reserved characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*/')
    name = name.strip(" .") or "file"
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot else ""
        name = (stem if dot else name)[: MAX_FILENAME_CHARS - len(ext) - 1] + (f".{ext}" if ext else "")
    return name


def safe_content_type(value: str | None) -> str:
    """A plain `type/subtype`; anything else is served as application/octet-stream."""
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if _MIME.match(kind) else "application/octet-stream"


async def blob_keys_of_task(reader: Reader, board_id: str, task_id: str) -> list[str]:
    return [a.storage_key for a in await reader.select_attachments(board_id, task_id)]


async def blob_keys_of_board(reader: Reader, board_id: str) -> list[str]:
    return [a.storage_key for a in await reader.select_attachments_of_board(board_id)]


def _deleting(attachment: Attachment) -> Callable[[Transaction], Awaitable[None]]:
    return lambda tx: tx.delete_attachment(attachment.board_id, attachment.id)


async def discard_blobs(blobs: BlobStore, keys: list[str]) -> None:
    """After a commit that dropped their records: a failure only leaves orphans, logged."""
    if not keys:
        return
    try:
        await blobs.delete(keys)
    except Exception:
        logger.exception("could not delete {} attachment file(s); they are orphans now", len(keys))


class AttachmentService:
    def __init__(self, *, store: Store, recorder: Recorder, blobs: BlobStore,
                 max_bytes: int) -> None:
        self._store = store
        self._recorder = recorder
        self._blobs = blobs
        self.max_bytes = max_bytes

    async def list(self, actor: Actor, task_id: str) -> list[Attachment]:
        task, _ = await task_for(self._store, task_id, actor)
        return [a for a in await self._store.select_attachments(task.board_id, task_id)
                if not a.pending]

    async def download(self, actor: Actor, task_id: str, attachment_id: str) -> tuple[Attachment,
                                                                                     Download]:
        task, _ = await task_for(self._store, task_id, actor)
        attachment = await self._attachment(self._store, task, attachment_id)
        where = await self._blobs.download(attachment.storage_key, filename=attachment.filename,
                                           content_type=attachment.content_type)
        return attachment, where

    async def upload(self, actor: Actor, task_id: str, *, filename: str,
                     content_type: str | None, source: IO[bytes]) -> Attachment:
        """Stores the bytes, then records the attachment and its event in one transaction."""
        task, _ = await task_for(self._store, task_id, actor, "editor")
        attachment = self._new(actor, task, filename, content_type, pending=False)
        size = await self._blobs.put(attachment.storage_key, source,
                                     content_type=attachment.content_type)
        if size > self.max_bytes:
            await discard_blobs(self._blobs, [attachment.storage_key])
            raise PayloadTooLarge(f"Attachments are limited to {self.max_bytes} bytes")
        attachment = replace(attachment, size=size)

        async def work(change: Change) -> Attachment:
            await task_for(change.tx, task_id, actor, "editor")
            await change.tx.insert_attachment(attachment)
            await change.record(task.board_id, "attachment:added", attachment_view(attachment))
            return attachment

        try:
            return await self._recorder.run(actor.user_id, work)
        except BaseException:
            await discard_blobs(self._blobs, [attachment.storage_key])
            raise

    @property
    def browser_origins(self) -> tuple[str, ...]:
        """Where browsers fetch and upload attachment bytes, beyond the app's own origin."""
        return self._blobs.browser_origins

    async def upload_options(self, actor: Actor, task_id: str) -> tuple[int, bool]:
        """What an editor of the task may upload: the size limit, and whether direct uploads work."""
        await task_for(self._store, task_id, actor, "editor")
        return self.max_bytes, self._blobs.direct_uploads

    async def start_upload(self, actor: Actor, task_id: str, *, filename: str,
                           content_type: str | None, size: int) -> tuple[Attachment, dict[str, object]]:
        """A presigned direct upload to S3 for a pending attachment (confirm it afterwards)."""
        if not self._blobs.direct_uploads:
            raise Conflict("Direct uploads need S3 storage; upload through the API instead",
                           reason="direct_upload_unavailable")
        if size > self.max_bytes:
            raise PayloadTooLarge(f"Attachments are limited to {self.max_bytes} bytes")
        task, _ = await task_for(self._store, task_id, actor, "editor")
        attachment = self._new(actor, task, filename, content_type, pending=True)
        form = await self._blobs.upload_form(attachment.storage_key,
                                             content_type=attachment.content_type,
                                             max_size=self.max_bytes)
        await self._store.transact(lambda tx: tx.insert_attachment(attachment))
        return attachment, form

    async def complete_upload(self, actor: Actor, task_id: str, attachment_id: str) -> Attachment:
        """Confirms a direct upload once its bytes are in S3."""
        task, _ = await task_for(self._store, task_id, actor, "editor")
        pending = await self._attachment(self._store, task, attachment_id, pending=True)
        size = await self._blobs.size(pending.storage_key)
        if size is None:
            raise Conflict("Nothing was uploaded for this attachment yet", reason="not_uploaded")
        if size > self.max_bytes:
            await discard_blobs(self._blobs, [pending.storage_key])
            raise PayloadTooLarge(f"Attachments are limited to {self.max_bytes} bytes")

        async def work(change: Change) -> Attachment:
            task, _ = await task_for(change.tx, task_id, actor, "editor")
            current = await self._attachment(change.tx, task, attachment_id, pending=True)
            done = replace(current, pending=False, size=size, created_at=change.clock.now())
            await change.tx.confirm_attachment(task.board_id, attachment_id, size=size,
                                               at=done.created_at)
            await change.record(task.board_id, "attachment:added", attachment_view(done))
            return done

        return await self._recorder.run(actor.user_id, work)

    async def delete(self, actor: Actor, task_id: str, attachment_id: str) -> None:
        async def work(change: Change) -> str:
            task, _ = await task_for(change.tx, task_id, actor, "editor")
            attachment = await self._attachment(change.tx, task, attachment_id)
            await change.tx.delete_attachment(task.board_id, attachment_id)
            await change.record(task.board_id, "attachment:deleted",
                                {"id": attachment_id, "task_id": task_id})
            return attachment.storage_key

        key = await self._recorder.run(actor.user_id, work)
        await discard_blobs(self._blobs, [key])

    def _new(self, actor: Actor, task: Task, filename: str, content_type: str | None, *,
             pending: bool) -> Attachment:
        attachment_id = new_id()
        return Attachment(
            id=attachment_id, task_id=task.id, board_id=task.board_id,
            filename=safe_filename(filename), content_type=safe_content_type(content_type),
            size=0, created_by=actor.user_id, created_at=self._recorder.clock.now(),
            storage_key=f"boards/{task.board_id}/tasks/{task.id}/{attachment_id}",
            pending=pending,
        )

    async def _attachment(self, reader: Reader, task: Task, attachment_id: str, *,
                          pending: bool = False) -> Attachment:
        attachment = await reader.select_attachment(task.board_id, attachment_id)
        if attachment is None or attachment.task_id != task.id or attachment.pending != pending:
            raise NotFound("Attachment not found")
        return attachment

    async def purge_stale_uploads(self, before: datetime) -> int:
        """Drops direct uploads started before `before` and never confirmed."""
        stale = await self._store.select_stale_pending_attachments(before)
        for attachment in stale:
            await self._store.transact(_deleting(attachment))
        await discard_blobs(self._blobs, [a.storage_key for a in stale])
        return len(stale)
