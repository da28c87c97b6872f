"""The interfaces the services need; infrastructure and adapters implement them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import IO, Any, Protocol, TypeVar

from taskflow.domain import (
    Attachment,
    Board,
    BoardsNotice,
    Column,
    Comment,
    Delivery,
    Download,
    Event,
    Login,
    Member,
    Notification,
    NotificationsRead,
    PersonalToken,
    RefreshToken,
    Role,
    SearchHit,
    SearchQuery,
    Stats,
    Task,
    TaskQuery,
    TaskRow,
    User,
    Watch,
    Webhook,
)

T = TypeVar("T")


class Reader(Protocol):
    """Reads. Outside a transaction each call sees committed data only."""

    async def select_user(self, user_id: str) -> User | None: ...
    async def select_user_by_email(self, email: str) -> User | None:
        """Case-insensitive lookup."""
        ...
    async def select_board(self, board_id: str) -> Board | None: ...
    async def select_boards_of_user(self, user_id: str) -> list[Board]: ...
    async def select_board_seqs_of_user(self, user_id: str) -> list[tuple[str, int]]: ...
    async def select_board_seqs(self, board_ids: Sequence[str]) -> dict[str, int]:
        """The latest seq of each board, deleted ones included until they are purged."""
        ...
    async def select_task(self, task_id: str) -> Task | None:
        """A task by its id alone, which is all a REST client knows (a sharded store looks up
        its board first)."""
        ...
    async def select_tasks(self, query: TaskQuery) -> list[Task]:
        """Up to query.limit tasks in query.sort order, strictly after query.after."""
        ...
    async def select_task_rows(self, query: TaskQuery) -> list[TaskRow]:
        """select_tasks, as rows (domain.TaskRow): for listings, which only serialize them."""
        ...
    async def search_tasks(self, query: SearchQuery) -> list[SearchHit]:
        """Up to query.limit tasks of query.board_ids matching every term and filter, by
        (rank desc, updated_at desc, id desc), strictly after query.after."""
        ...
    async def select_column(self, board_id: str, column_id: str) -> list[Task]:
        """Every task of one column of a board, by (position, id)."""
        ...
    async def select_column_end(self, board_id: str, column_id: str) -> float | None:
        """The highest position in one column of a board (None: the column is empty)."""
        ...
    async def select_neighbours(self, task: Task) -> tuple[Task | None, Task | None]:
        """The tasks just before and just after `task` in its column (`column_id`), by
        (position, id)."""
        ...
    # Calls that name a board's row take its board_id: the key a sharded store routes by.
    async def select_comment(self, board_id: str, comment_id: str) -> Comment | None: ...
    async def select_comments(
        self, board_id: str, task_id: str, *, limit: int, after: tuple[str, str] | None
    ) -> list[Comment]: ...
    async def select_events(self, board_id: str, *, since: int, limit: int) -> list[Event]:
        """Events with seq > since, oldest first."""
        ...
    async def select_oldest_event_seq(self, board_id: str) -> int | None: ...
    async def select_task_events(self, board_id: str, task_id: str, *, before: int | None,
                                 limit: int) -> list[Event]:
        """The events about one task (domain.task_id_of_event), seq < before, newest first."""
        ...
    async def select_board_ids(self, *, after: str | None, limit: int) -> list[str]:
        """Ids of live boards, ascending, strictly after `after` (for housekeeping)."""
        ...
    async def compute_stats(self, board_ids: Sequence[str], now: datetime) -> Stats: ...
    async def select_attachment(self, board_id: str, attachment_id: str) -> Attachment | None: ...
    async def select_attachments(self, board_id: str, task_id: str) -> list[Attachment]:
        """A task's attachments (pending ones included), oldest first."""
        ...
    async def select_attachments_of_board(self, board_id: str) -> list[Attachment]: ...
    async def select_stale_pending_attachments(self, before: datetime) -> list[Attachment]: ...
    async def select_login(self, login_id: str) -> Login | None: ...
    async def select_live_logins(self, login_ids: Sequence[str]) -> list[str]:
        """Those of `login_ids` that exist and are not revoked."""
        ...
    async def select_refresh_token(self, token_hash: str) -> RefreshToken | None: ...
    # --- personal access tokens (services/personal_tokens.py) -----------------------------
    async def select_personal_token(self, token_hash: str) -> PersonalToken | None:
        """The token whose secret has this SHA-256 (expired ones too, until purged)."""
        ...
    async def select_personal_tokens(self, user_id: str, *, limit: int,
                                     after: tuple[str, str] | None) -> list[PersonalToken]:
        """A user's tokens by (created_at, id), strictly after `after`
        (timefmt.to_ts of created_at, id)."""
        ...
    async def select_live_personal_tokens(self, token_ids: Sequence[str],
                                          now: datetime) -> list[str]:
        """Those of `token_ids` that exist and expire after `now`."""
        ...
    # --- notifications and watches (services/notifications.py) ---------------------------
    async def select_notifications(self, user_id: str, *, unread_only: bool, limit: int,
                                   after: tuple[int, str, str] | None) -> list[Notification]:
        """A user's notifications, unread first, then newest first: ordered by (read ? 1 : 0,
        created_at descending, id descending), strictly after the key `after`
        (read flag, timefmt.to_ts of created_at, id)."""
        ...
    async def count_unread_notifications(self, user_id: str) -> int: ...
    async def select_notification(self, user_id: str, notification_id: str) -> Notification | None:
        """One of the user's notifications (None for another user's)."""
        ...
    async def select_watchers(self, board_id: str, task_id: str | None) -> list[Watch]:
        """Who watches the board, and (with `task_id`) who watches that task."""
        ...
    async def select_watches_of_user(self, user_id: str, *, board_id: str | None, limit: int,
                                     after: tuple[str, str] | None) -> list[Watch]:
        """A user's watches by (created_at, board_id/task_id), strictly after `after`
        (timefmt.to_ts of created_at, watch_key)."""
        ...
    # --- webhooks (services/webhooks.py) --------------------------------------------------
    async def select_webhook(self, board_id: str, webhook_id: str) -> Webhook | None: ...
    async def select_webhooks(self, board_id: str, *, limit: int,
                              after: tuple[str, str] | None) -> list[Webhook]:
        """A board's webhooks by (created_at, id), strictly after `after` (to_ts, id)."""
        ...
    async def select_active_webhooks(self, *, limit: int) -> list[Webhook]:
        """Active webhooks of every board, by id (what the dispatcher scans)."""
        ...
    async def select_deliveries(self, board_id: str, webhook_id: str, *, limit: int,
                                after: tuple[str, str] | None) -> list[Delivery]:
        """A webhook's kept deliveries, newest first by (at, id), strictly after `after`."""
        ...
    # --- board imports (services/imports.py) --------------------------------------------
    async def select_stale_imports(self, before: datetime, *, limit: int) -> list[str]:
        """Board ids of imports started before `before` and never finished, oldest first."""
        ...


class Transaction(Reader, Protocol):
    """One atomic unit of work: everything in it commits together or not at all.

    Reads inside see the transaction's own writes. Writers to the same board are
    serialized, so `append_event` numbers a board's events without gaps.
    """

    async def insert_user(self, user: User) -> None:
        """Raises Conflict when the email is taken (case-insensitive)."""
        ...
    async def update_user(self, user: User) -> None:
        """Raises Conflict when the new email is taken (case-insensitive)."""
        ...
    async def set_board_epoch(self, board_id: str, epoch: str) -> None:
        """Starts the board's log on a new epoch (no-op for a board that doesn't exist)."""
        ...
    async def insert_board(self, board: Board) -> None:
        """Inserts the board and its members."""
        ...
    async def update_board(self, board_id: str, *, name: str, description: str,
                           updated_at: datetime) -> None: ...
    async def update_board_columns(self, board_id: str, columns: Sequence[Column], *,
                                   updated_at: datetime) -> None:
        """Replaces the board's ordered list of columns."""
        ...
    async def delete_board(self, board_id: str, *, seq: int, at: datetime) -> None:
        """Deletes the board with its members, tasks, comments and attachment records.

        Its event log stays, with a tombstone naming its last `seq`, until
        purge_deleted_boards: instances that missed the final events (Redis down) still
        find them, board:deleted last.
        """
        ...
    async def insert_member(self, board_id: str, member: Member, *, added_at: datetime) -> None:
        """Raises Conflict when the user already is a member."""
        ...
    async def update_member(self, board_id: str, user_id: str, role: Role) -> None: ...
    async def delete_member(self, board_id: str, user_id: str) -> None: ...
    async def insert_task(self, task: Task) -> None: ...
    async def update_task(self, task: Task) -> None: ...
    async def delete_task(self, board_id: str, task_id: str) -> None:
        """Deletes the task with its comments and attachment records."""
        ...
    async def insert_comment(self, comment: Comment) -> None: ...
    async def insert_attachment(self, attachment: Attachment) -> None: ...
    async def confirm_attachment(self, board_id: str, attachment_id: str, *, size: int,
                                 at: datetime) -> None:
        """A pending attachment becomes a real one."""
        ...
    async def delete_attachment(self, board_id: str, attachment_id: str) -> None: ...
    async def delete_comment(self, board_id: str, comment_id: str) -> None: ...
    async def append_event(self, board_id: str, *, type: str, actor_id: str, at: datetime,
                           data: dict[str, Any]) -> Event:
        """Appends the board's next event (seq = previous + 1) and returns it."""
        ...
    async def prune_events(self, board_id: str, *, before: datetime) -> int:
        """Drops the board's events logged before `before` (up to the first one logged after
        it: the log is in time order), except its newest `events_kept` (10,000 by default),
        which stay however old; returns how many went."""
        ...
    async def purge_deleted_boards(self, before: datetime) -> int:
        """Drops the event logs and tombstones of boards deleted before `before`."""
        ...
    async def insert_login(self, login: Login) -> None: ...
    async def revoke_login(self, login_id: str, at: datetime) -> None: ...
    async def revoke_logins_of_user(self, user_id: str, at: datetime) -> list[str]:
        """Revokes every live login of the user; returns their ids."""
        ...
    async def insert_refresh_token(self, token: RefreshToken) -> None: ...
    async def spend_refresh_token(self, token_hash: str, at: datetime) -> bool:
        """Marks the token used; False when it already was (a reuse)."""
        ...
    async def insert_personal_token(self, token: PersonalToken) -> None: ...
    async def touch_personal_token(self, token_id: str, at: datetime,
                                   unless_since: datetime) -> None:
        """Sets the token's last_used_at to `at` unless it is already `unless_since` or later."""
        ...
    async def delete_personal_token(self, user_id: str, token_id: str) -> bool:
        """Deletes the user's token; False when the user has no token of that id."""
        ...
    async def delete_personal_tokens_of_user(self, user_id: str) -> list[str]:
        """Deletes every token of the user; returns their ids."""
        ...
    async def purge_personal_tokens(self, before: datetime) -> int:
        """Drops tokens that expired before `before`; how many."""
        ...
    async def insert_notifications(self, notifications: Sequence[Notification]) -> None: ...
    async def mark_notifications_read(self, user_id: str, ids: Sequence[str] | None,
                                      at: datetime) -> int:
        """Marks these (None: every) unread notifications of the user read; how many were."""
        ...
    async def delete_notifications(self, board_id: str, *, user_id: str | None = None,
                                   task_id: str | None = None) -> None:
        """The board's notifications, only the user's and/or only the task's when named."""
        ...
    async def purge_notifications(self, *, read_before: datetime,
                                  unread_before: datetime) -> int:
        """Drops read notifications created before `read_before` and unread ones before
        `unread_before`; how many."""
        ...
    async def upsert_watch(self, watch: Watch) -> None:
        """Idempotent: watching what one already watches keeps the first `created_at`."""
        ...
    async def delete_watches(self, board_id: str, *, user_id: str | None = None,
                             task_id: str | None = None) -> None:
        """The board's watches (the board's own and its tasks'), narrowed to the user and/or
        the task when named; with both, exactly that task watch."""
        ...
    async def delete_board_watch(self, board_id: str, user_id: str) -> None: ...
    # --- webhooks (delete_board deletes a board's webhooks; prune_events keeps every event
    # after the lowest cursor of the board's active webhooks) ------------------------------
    async def insert_webhook(self, webhook: Webhook) -> None: ...
    async def update_webhook_settings(self, board_id: str, webhook_id: str, *, url: str,
                                      events: Sequence[str], active: bool,
                                      disabled_reason: str | None, updated_at: datetime,
                                      reset_retries: bool) -> None: ...
    async def delete_webhook(self, board_id: str, webhook_id: str) -> None:
        """The webhook and its deliveries."""
        ...
    async def claim_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                            until: datetime) -> bool:
        """Takes (or renews) the sending lease of an active webhook when it is free, expired
        or already `owner`'s; whether it did. Atomic across instances."""
        ...
    async def settle_webhook(self, board_id: str, webhook_id: str, *, owner: str, now: datetime,
                             settings_at: datetime, cursor: int, attempt: int,
                             next_attempt_at: datetime | None, failing_since: datetime | None,
                             lease_until: datetime | None, active: bool,
                             disabled_reason: str | None) -> bool:
        """Sets the delivery state, only while `owner` still holds an unexpired lease
        (`lease_until` None releases it) and the webhook is active with the settings it had
        at `settings_at` (its `updated_at` as the sender read it): a change by the owner
        meanwhile (URL, events, disabled) wins. Whether it did."""
        ...
    async def insert_delivery(self, delivery: Delivery) -> None:
        """Records one attempt, keeping the newest 100 of the webhook."""
        ...
    async def insert_import(self, board_id: str, user_id: str, started_at: datetime) -> None:
        """Marks the board as an import under way (it has no member yet)."""
        ...
    async def delete_import(self, board_id: str) -> None:
        """The import of this board finished (or its board went): no longer under way."""
        ...


class Store(Reader, Protocol):
    """The system of record."""

    async def transact(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """Runs `work` in one transaction and commits it; returns what `work` returned.

        A store may run `work` again from the start when the transaction hit a transient
        conflict (MongoDB aborts one of two transactions writing the same board), so
        `work` must have no effect outside the transaction. An exception from `work`
        rolls everything back and propagates.
        """
        ...
    async def ping(self) -> None:
        """Raises when the store can't answer."""
        ...
    async def close(self) -> None: ...


class Cache(Protocol):
    """A shared key-value cache with expiry. A failing cache is a miss, never an error."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: int) -> None: ...
    async def delete(self, *keys: str) -> None: ...


class Publisher(Protocol):
    """Delivers durable board events to live subscribers (after commit, never before)."""

    async def publish(self, events: Sequence[Event]) -> None: ...
    async def end_logins(self, user_id: str, login_ids: Sequence[str]) -> None:
        """Closes the live connections opened under these logins of the user, everywhere."""
        ...
    async def boards_changed(self, notices: Sequence[BoardsNotice]) -> None:
        """Tells the users' live connections, on every instance, that their boards changed."""
        ...
    async def notify(self, notifications: Sequence[Notification]) -> None:
        """`notification:created` to every live connection of each recipient, everywhere."""
        ...
    async def notifications_read(self, reads: Sequence[NotificationsRead]) -> None:
        """`notification:read` to every live connection of the user (their other tabs)."""
        ...


class BlobStore(Protocol):
    """Where attachment bytes live (local disk or S3). Keys are ours, never user input."""

    direct_uploads: bool
    # Origins a browser talks to for downloads and direct uploads (beyond the app's own).
    browser_origins: tuple[str, ...]

    async def put(self, key: str, source: IO[bytes], *, content_type: str) -> int:
        """Stores the stream under `key`; returns its size in bytes."""
        ...
    async def size(self, key: str) -> int | None:
        """The stored size, or None when nothing is stored under `key`."""
        ...
    async def delete(self, keys: Sequence[str]) -> None: ...
    async def download(self, key: str, *, filename: str, content_type: str) -> Download: ...
    async def upload_form(self, key: str, *, content_type: str, max_size: int) -> dict[str, Any]:
        """A presigned direct upload (`{url, fields}`); only when `direct_uploads`."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-ish time: with no hash it verifies against a dummy one."""
        ...


class WebhookSender(Protocol):
    """Posts one signed webhook body to a URL (infrastructure: webhooknet.py)."""

    async def check_url(self, url: str) -> None:
        """UnsafeUrl (a 422) when the URL or the addresses its host resolves to are refused."""
        ...
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """(status code, error): code None when no response came; error None on a 2xx."""
        ...
