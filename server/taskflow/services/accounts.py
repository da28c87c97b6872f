"""Deleting an account: everything of it goes, except what others need to read."""

from __future__ import annotations

from dataclasses import replace
from secrets import token_urlsafe

from taskflow.domain import DELETED_EMAIL_DOMAIN
from taskflow.errors import OwnsSharedBoards
from taskflow.services.access import Actor, active_user
from taskflow.services.attachments import discard_blobs
from taskflow.services.auth import check_current_password, end_every_login
from taskflow.services.boards import drop_board, drop_member
from taskflow.services.changes import Change, Recorder
from taskflow.services.ports import BlobStore, PasswordHasher, Publisher, Store

DELETED_NAME = "Deleted user"


class AccountService:
    def __init__(self, *, store: Store, recorder: Recorder, hasher: PasswordHasher,
                 publisher: Publisher, blobs: BlobStore) -> None:
        self._store = store
        self._recorder = recorder
        self._hasher = hasher
        self._publisher = publisher
        self._blobs = blobs

    async def delete(self, actor: Actor, *, current_password: str) -> None:
        """Deletes the caller's account, in one transaction.

        Refused (409, naming them) while the account owns a board with other members: they
        must delete it first (a board has one owner). Boards it owns alone are deleted; it
        leaves every other board (`member:removed`, its tasks there unassigned); its
        personal access tokens, logins and live connections end on every instance; its
        watches and notifications go. The user row stays, anonymized (no email, name
        "Deleted user", a password no one knows), so that comments and activity written by
        it still read; the email is free to register again at once.
        """
        user = active_user(await self._store.select_user(actor.user_id))
        await check_current_password(self._hasher, user, current_password)
        # Hashed outside the transaction (bcrypt is slow): a secret no one is ever told.
        unusable = await self._hasher.hash(token_urlsafe(32))

        async def work(change: Change) -> tuple[list[str], list[str]]:
            tx = change.tx
            # Re-read inside: a concurrent deletion, or a board shared since the first read.
            current = active_user(await tx.select_user(user.id))
            boards = await tx.select_boards_of_user(user.id)
            shared = [b for b in boards if b.owner_id == user.id and len(b.members) > 1]
            if shared:
                raise OwnsSharedBoards(
                    "Delete these boards first, or remove their other members: "
                    + ", ".join(f"{b.name!r}" for b in shared[:10])
                    + (f" and {len(shared) - 10} more" if len(shared) > 10 else ""),
                    boards=[{"id": b.id, "name": b.name} for b in shared],
                )
            keys: list[str] = []
            for board in boards:
                if board.owner_id == user.id:
                    keys += await drop_board(change, board)
                else:
                    await drop_member(change, board.id, user.id)
            ended = await end_every_login(tx, user.id, change.clock.now())
            await tx.update_user(replace(
                current, email=f"{user.id}@{DELETED_EMAIL_DOMAIN}", name=DELETED_NAME,
                password_hash=unusable, credentials_version=current.credentials_version + 1,
            ))
            return ended, keys

        ended, keys = await self._recorder.run(user.id, work)
        if ended:
            await self._publisher.end_logins(user.id, ended)
        await discard_blobs(self._blobs, keys)
