"""Every service, built once from its collaborators."""

from __future__ import annotations

from dataclasses import dataclass

from taskflow.security.tokens import TokenIssuer
from taskflow.services.accounts import AccountService
from taskflow.services.activity import ActivityService
from taskflow.services.attachments import AttachmentService
from taskflow.services.auth import AuthService
from taskflow.services.boards import BoardService
from taskflow.services.changes import Recorder
from taskflow.services.checklists import ChecklistService
from taskflow.services.columns import ColumnService
from taskflow.services.comments import CommentService
from taskflow.services.events import EventService
from taskflow.services.exports import ExportService
from taskflow.services.imports import ImportService
from taskflow.services.notifications import NotificationService
from taskflow.services.personal_tokens import PersonalTokenService
from taskflow.services.ports import (
    BlobStore,
    Cache,
    Clock,
    PasswordHasher,
    Publisher,
    Store,
    WebhookSender,
)
from taskflow.services.search import SearchService
from taskflow.services.stats import StatsService
from taskflow.services.tasks import TaskService
from taskflow.services.webhook_delivery import Doorbell
from taskflow.services.webhooks import WebhookService


@dataclass(frozen=True, slots=True)
class Services:
    auth: AuthService
    accounts: AccountService
    boards: BoardService
    columns: ColumnService
    tasks: TaskService
    comments: CommentService
    events: EventService
    stats: StatsService
    attachments: AttachmentService
    checklists: ChecklistService
    activity: ActivityService
    notifications: NotificationService
    search: SearchService
    webhooks: WebhookService
    # Rung by every commit that logged events (the webhook dispatcher waits on it).
    doorbell: Doorbell
    recorder: Recorder  # for the webhook dispatcher, which runs beside the services
    personal_tokens: PersonalTokenService
    exports: ExportService
    imports: ImportService

    @classmethod
    def build(cls, *, store: Store, cache: Cache, publisher: Publisher, clock: Clock,
              hasher: PasswordHasher, tokens: TokenIssuer, blobs: BlobStore, refresh_ttl: int,
              stats_ttl: int, max_upload_bytes: int, webhook_sender: WebhookSender,
              import_max_tasks: int = 200_000) -> Services:
        doorbell = Doorbell()
        recorder = Recorder(store=store, publisher=publisher, clock=clock,
                            on_events=doorbell.ring)
        personal_tokens = PersonalTokenService(store=store, publisher=publisher, clock=clock)
        return cls(
            auth=AuthService(store=store, hasher=hasher, tokens=tokens, publisher=publisher,
                             clock=clock, refresh_ttl=refresh_ttl,
                             personal_tokens=personal_tokens),
            accounts=AccountService(store=store, recorder=recorder, hasher=hasher,
                                    publisher=publisher, blobs=blobs),
            boards=BoardService(store=store, recorder=recorder, clock=clock, blobs=blobs),
            columns=ColumnService(recorder=recorder),
            tasks=TaskService(store=store, recorder=recorder, blobs=blobs),
            comments=CommentService(store=store, recorder=recorder),
            events=EventService(store=store),
            stats=StatsService(store=store, cache=cache, clock=clock, ttl=stats_ttl),
            attachments=AttachmentService(store=store, recorder=recorder, blobs=blobs,
                                          max_bytes=max_upload_bytes),
            checklists=ChecklistService(recorder=recorder),
            activity=ActivityService(store=store),
            notifications=NotificationService(store=store, recorder=recorder),
            search=SearchService(store=store, clock=clock),
            webhooks=WebhookService(store=store, sender=webhook_sender, clock=clock),
            doorbell=doorbell,
            recorder=recorder,
            personal_tokens=personal_tokens,
            exports=ExportService(store=store, clock=clock),
            imports=ImportService(store=store, recorder=recorder, clock=clock,
                                  max_tasks=import_max_tasks),
        )
