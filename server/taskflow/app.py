"""create_app(settings): builds every collaborator once and returns the ASGI app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from functools import partial
from typing import cast

from loguru import logger
from quart import Quart
from quart_schema import QuartSchema
from socketio import ASGIApp

from taskflow import __version__
from taskflow.blobs import LocalBlobStore, S3BlobStore
from taskflow.cache import MemoryCache, RedisCache
from taskflow.clock import SystemClock
from taskflow.config import Settings, SettingsError
from taskflow.http import (
    attachments,
    auth,
    boards,
    checklists,
    columns,
    idempotency,
    notifications,
    ops,
    porting,
    problems,
    search,
    tasks,
    web,
    webhooks,
)
from taskflow.http import middleware as http_middleware
from taskflow.http import tokens as token_routes
from taskflow.http.metrics import MetricsListener
from taskflow.http.openapi import TaskFlowOpenAPI
from taskflow.http.request import JSONRequest
from taskflow.http.runtime import Runtime
from taskflow.idempotency import IdempotencyStore, RedisLedger, StoreLedger
from taskflow.observability import Metrics
from taskflow.ratelimit import RateLimiter
from taskflow.realtime.channel import LiveChannel
from taskflow.realtime.publisher import LivePublisher
from taskflow.redisconn import ping as redis_ping
from taskflow.redisconn import redis_client
from taskflow.security.passwords import BcryptHasher
from taskflow.security.tokens import TokenIssuer
from taskflow.services.container import Services
from taskflow.services.ports import BlobStore, Cache, Publisher, Store
from taskflow.services.webhook_delivery import DeliveryObserver, WebhookDispatcher
from taskflow.storage.mongo import MongoNotReady, MongoStore
from taskflow.storage.sqlite import SqliteStore
from taskflow.storage.timed import TimedStore
from taskflow.webhooknet import HttpWebhookSender


async def open_store(settings: Settings, *, create_indexes: bool = False) -> Store:
    """The store the settings name: MongoDB with MONGODB_URI, else SQLite in the data dir.

    MongoDB must be a replica set and have its indexes and layout, SQLite its latest schema
    (a new file gets it), unless `create_indexes` (db init, db migrate): that upgrades."""
    if settings.mongodb_uri:
        try:
            return await MongoStore.open(
                settings.mongodb_uri, max_pool_size=settings.mongodb_max_pool_size,
                server_selection_timeout_ms=settings.mongodb_server_selection_timeout_ms,
                socket_timeout_ms=settings.mongodb_socket_timeout_ms,
                allow_standalone=settings.mongodb_allow_standalone, create_indexes=create_indexes,
            )
        except MongoNotReady as exc:
            raise SettingsError(str(exc)) from None
    return await SqliteStore.open(settings.data_dir / "taskflow.db",
                                  busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                                  migrate=create_indexes)


def open_blobs(settings: Settings) -> BlobStore:
    """S3 with S3_BUCKET, else files under the data dir."""
    if settings.s3_bucket:
        return S3BlobStore(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                           region=settings.s3_region, url_ttl=settings.s3_url_ttl)
    return LocalBlobStore(settings.data_dir / "blobs")


async def preflight(settings: Settings) -> None:
    """Opens the store once before serving, so a store that can't be used stops the
    start-up with one clear line instead of a server's lifespan traceback."""
    settings.with_data_dir()
    store = await open_store(settings)
    await store.close()


def create_app(settings: Settings, *, publisher: Publisher | None = None) -> Quart:
    """The Quart app; its store, Redis and services open when the server starts serving.

    `publisher` replaces the live channel's (tests of the REST core capture events with it).
    Serve `asgi_app(app)` to have the live channel too.
    """
    settings = settings.with_data_dir().with_jwt_secret()
    app = Quart("taskflow")
    app.request_class = type("TaskFlowRequest", (JSONRequest,),  # type: ignore[assignment]
                             {"upload_limit": settings.max_upload_bytes,
                              "import_limit": settings.max_import_bytes})
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        PROPAGATE_EXCEPTIONS=False,
        DEBUG=False,
        QUART_SCHEMA_CONVERSION_PREFERENCE="pydantic",
    )
    QuartSchema(
        app,
        info={"title": "TaskFlow API", "version": __version__,
              "description": "Boards of tasks shared live. Errors are application/problem+json. "
                             "Authenticate with either a session access token (a JWT from "
                             "login, register or refresh: full rights, 15 minutes) or a "
                             "personal access token (`tfp_...`, POST /api/v1/users/me/tokens: "
                             "its scopes read < write < admin; a route beyond them answers 403 "
                             "insufficient_scope)."},
        security_schemes={
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"},
            "personalToken": {"type": "http", "scheme": "bearer", "bearer_format": "tfp_"},
        },
        security=[{"bearerAuth": []}, {"personalToken": []}],
        swagger_ui_path=None, redoc_ui_path=None, scalar_ui_path=None,
        openapi_provider_class=TaskFlowOpenAPI,
    )
    tokens = TokenIssuer(secret=settings.jwt_secret, previous_secret=settings.jwt_previous_secret,
                         issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                         access_ttl=settings.access_token_ttl)
    rt = Runtime(settings=settings, tokens=tokens, metrics=Metrics())
    app.extensions["taskflow"] = rt
    for blueprint in (auth.blueprint, boards.blueprint, columns.blueprint, tasks.blueprint,
                      attachments.blueprint, checklists.blueprint, notifications.blueprint,
                      ops.blueprint, search.blueprint, webhooks.blueprint,
                      token_routes.blueprint, porting.blueprint):
        app.register_blueprint(blueprint)
    if settings.web_dist is not None:
        app.register_blueprint(web.blueprint(settings.web_dist))
    problems.register(app)
    http_middleware.register(app)
    idempotency.register(app)
    channel = LiveChannel(settings, metrics=rt.metrics)
    app.extensions["taskflow_live"] = channel
    live = publisher or LivePublisher(channel)

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        redis = redis_client(settings)
        store = await open_store(settings)
        store = cast(Store, TimedStore(store, rt.metrics.store_latency))
        counted = rt.metrics.cache_requests

        def on_lookup(hit: bool) -> None:
            counted.labels("hit" if hit else "miss").inc()

        cache: Cache = (RedisCache(redis, on_lookup=on_lookup) if redis
                        else MemoryCache(on_lookup=on_lookup))
        rt.store, rt.cache = store, cache
        rt.limiter = RateLimiter(redis=redis, enabled=settings.rate_limits.enabled)
        rt.redis_ping = partial(redis_ping, redis) if redis else None
        keys = cast(IdempotencyStore, store)
        rt.idempotency = RedisLedger(redis) if redis else StoreLedger(keys, SystemClock())
        sender = HttpWebhookSender(allow_private=settings.webhook_allow_private)
        rt.services_ = Services.build(
            store=store, cache=cache, publisher=live, clock=SystemClock(), hasher=BcryptHasher(),
            tokens=tokens, blobs=open_blobs(settings), refresh_ttl=settings.refresh_token_ttl,
            stats_ttl=settings.stats_ttl, max_upload_bytes=settings.max_upload_bytes,
            webhook_sender=sender,
            import_max_tasks=settings.import_max_tasks,
        )
        metrics = rt.metrics

        def attempted(outcome: str, seconds: float) -> None:
            metrics.webhook_deliveries.labels(outcome).inc()
            metrics.webhook_attempt.observe(seconds)

        dispatcher = WebhookDispatcher(
            recorder=rt.services_.recorder, sender=sender, clock=SystemClock(),
            doorbell=rt.services_.doorbell,
            owner=f"{settings.instance_id}-{uuid.uuid4().hex[:8]}",
            retry_window=timedelta(seconds=settings.webhook_retry_window),
            poll_interval=settings.webhook_poll_seconds,
            lease=timedelta(seconds=settings.webhook_lease_seconds),
            observer=DeliveryObserver(attempted=attempted, lagged=metrics.webhook_lag.observe))
        await channel.start(rt.services_, redis)
        dispatcher.start()
        chores = asyncio.create_task(_chores(rt.services_, settings.event_retention_days,
                                             None if redis else keys))
        logger.info("taskflow {} serving on {} (instance {}, store {}, redis {})", __version__,
                    settings.server, settings.instance_id, type(store).__name__,
                    settings.redis_mode if redis else "off")
        try:
            yield
        finally:
            chores.cancel()
            await dispatcher.stop()
            await sender.close()
            await channel.stop()
            await store.close()
            if redis is not None:
                await redis.aclose()

    return app


async def _chores(services: Services, retention_days: int,
                  idempotency_keys: IdempotencyStore | None) -> None:
    """Periodic housekeeping: direct uploads started an hour ago and never confirmed; the
    event logs of boards deleted an hour ago (kept so every instance could deliver them);
    events of live boards older than the retention (their newest 10,000 aside); without
    Redis, expired Idempotency-Key claims and responses."""
    while True:
        await asyncio.sleep(600)
        try:
            now = SystemClock().now()
            cutoff = now - timedelta(hours=1)
            uploads = await services.attachments.purge_stale_uploads(cutoff)
            boards = await services.boards.purge_deleted(cutoff)
            # Imports crashed mid-way: their boards never became visible (services/imports.py).
            if imports := await services.imports.purge_stale(now - timedelta(hours=6)):
                logger.info("deleted {} abandoned board import(s)", imports)
            events = await services.events.prune(now - timedelta(days=retention_days))
            if uploads or boards or events:
                logger.info("purged {} unconfirmed upload(s), {} deleted board log(s), "
                            "{} event(s) past retention", uploads, boards, events)
            # Read notifications after 90 days, unread ones after 365.
            if notices := await services.notifications.purge(now):
                logger.info("purged {} old notification(s)", notices)
            if idempotency_keys is not None and (
                    keys := await idempotency_keys.purge_idempotency_keys(now=now.timestamp())):
                logger.info("purged {} expired idempotency key(s)", keys)
            if expired := await services.personal_tokens.purge(now):
                logger.info("purged {} expired personal access token(s)", expired)
        except Exception:
            logger.exception("housekeeping failed; will retry")


def asgi_app(app: Quart) -> ASGIApp | MetricsListener:
    """The one ASGI app to serve: Socket.IO at /socket.io, the Quart app for the rest, and
    with TASKFLOW_METRICS_PORT, in front of both, the metrics listener's own answers."""
    channel: LiveChannel = app.extensions["taskflow_live"]
    served = channel.asgi(app)
    rt: Runtime = app.extensions["taskflow"]
    if rt.settings.metrics_port is None:
        return served
    return MetricsListener(served, port=rt.settings.metrics_port, registry=rt.metrics.registry)
