"""Idempotency-Key on every POST under /api/v1 (draft-ietf-httpapi-idempotency-key-header,
with Stripe's rules), for every route alike, around the handler:

- before it: the key (1..255 printable ASCII characters, bare or as a quoted structured-field
  string) is claimed for the caller, or the stored response is replayed (`Idempotent-Replayed:
  true`) once the new body hashes to the same fingerprint (422 when not), or 409 with
  Retry-After while the first request still runs;
- as the body streams in: HashingBody hashes it chunk by chunk (http/request.py);
- after it: the response is stored for 24 h (2xx, 3xx and 4xx except 408, 413 and 429), or
  the claim released (5xx, those three) so that a retry runs again.

The register, login and refresh POSTs have no caller to key by: the header is ignored there,
and so it is on a request whose bearer token is refused (it gets its 401).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from loguru import logger
from quart import Quart, Response, current_app, g, request
from quart.wrappers.response import DataBody

from taskflow.errors import (
    BadRequest,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    PayloadTooLarge,
    Unauthorized,
)
from taskflow.http.request import HashingBody
from taskflow.http.runtime import bearer_actor, runtime
from taskflow.idempotency import IdempotencyLedger, StoredResponse

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_ANONYMOUS = frozenset({"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"})
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")
_NOT_STORED = frozenset({408, 413, 429})
# A response body larger than this is not stored (the claim is released): POST answers are
# single resources, far below it.
MAX_STORED_BODY = 1024 * 1024
_background: set[asyncio.Task[None]] = set()


@dataclass
class _Pending:
    ledger: IdempotencyLedger
    scope: str
    owner: str
    renewer: asyncio.Task[None] | None = field(default=None)


def parse_key(raw: str) -> str:
    """The key of the header's value; BadRequest when it is not 1..255 printable characters."""
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if not _KEY.fullmatch(value):
        raise BadRequest(f"{HEADER} must be 1 to 255 printable ASCII characters",
                         code="invalid_idempotency_key")
    return value


def _scope(user_id: str, key: str) -> str:
    return f"{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def _fingerprint(body_digest: str) -> str:
    target = request.path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    return hashlib.sha256(f"{request.method} {target}\n{body_digest}".encode()).hexdigest()


async def _drained_digest() -> str | None:
    """Reads (and discards) what is left of the body; the SHA-256 of all of it, or None when
    it could not be read whole (too large, the client went away, timed out)."""
    body = cast(HashingBody, request.body)
    if body.digest is None:
        return None
    try:
        async with asyncio.timeout(float(current_app.config["BODY_TIMEOUT"])):
            async for _chunk in body:
                pass
    except Exception:  # RequestEntityTooLarge, a timeout: no fingerprint of a whole body
        return None
    return body.digest.hexdigest() if body.complete else None


async def _renew(ledger: IdempotencyLedger, scope: str, owner: str, lease: timedelta) -> None:
    """Keeps a long request's claim alive (a third of the lease apart); ends with the request."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            if not await ledger.renew(scope, owner, lease=lease):
                return
        except Exception as exc:
            logger.warning("could not renew an idempotency claim: {}", exc)


def _later(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _release(pending: _Pending) -> None:
    try:
        await pending.ledger.release(pending.scope, pending.owner)
    except Exception as exc:
        logger.warning("could not release an idempotency claim: {}", exc)


def register(app: Quart) -> None:
    """Installs the hooks; must come after the middleware (its request id is logged here)."""

    @app.before_request
    async def _begin() -> Response | None:
        raw = request.headers.get(HEADER)
        if raw is None or request.method != "POST" or not request.path.startswith("/api/v1/"):
            return None
        if request.path in _ANONYMOUS:
            return None  # ignored, however it looks
        key = parse_key(raw)
        try:
            actor = await bearer_actor()
        except Unauthorized:
            return None  # the route answers 401
        rt = runtime()
        ledger = rt.idempotency
        assert ledger is not None, "the ledger is built when the server starts"
        lease = timedelta(seconds=rt.settings.idempotency_lease_seconds)
        scope, owner = _scope(actor.user_id, key), secrets.token_hex(12)
        claim = await ledger.claim(scope, owner, lease=lease)
        if claim.state == "claimed":
            pending = _Pending(ledger, scope, owner)
            pending.renewer = asyncio.create_task(_renew(ledger, scope, owner, lease))
            g.idempotency = pending
            return None
        # Answered here, not by the route: counted against the caller's API limit all the same.
        await rt.limit(rt.settings.rate_limits.api_per_user, "api", actor.user_id)
        if claim.state == "running" or claim.stored is None:
            # Read to the end first: a client still sending would otherwise see a broken pipe.
            await _drained_digest()
            raise IdempotencyKeyInUse(
                f"A request with this {HEADER} is still being processed; retry later",
                retry_after=min(rt.settings.idempotency_lease_seconds, 5))
        digest = await _drained_digest()
        if digest is None:
            raise PayloadTooLarge("The request body could not be read whole")
        stored = claim.stored
        if _fingerprint(digest) != stored.fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used with another method, path or body; use a new key")
        replay = Response(stored.body, status=stored.status)
        for name, value in stored.headers:
            replay.headers[name] = value
        replay.headers[REPLAYED] = "true"
        return replay

    @app.after_request
    async def _finish(response: Response) -> Response:
        pending: _Pending | None = g.pop("idempotency", None)
        if pending is None:
            return response
        if pending.renewer is not None:
            pending.renewer.cancel()
        status = response.status_code
        stored: StoredResponse | None = None
        if status < 500 and status not in _NOT_STORED and isinstance(response.response, DataBody):
            body = await response.get_data(as_text=False)
            digest = await _drained_digest() if len(body) <= MAX_STORED_BODY else None
            if digest is not None:
                headers = tuple((name, response.headers[name]) for name in _KEPT_HEADERS
                                if name in response.headers)
                stored = StoredResponse(_fingerprint(digest), status, headers, body)
        try:
            if stored is not None:
                await pending.ledger.complete(pending.scope, pending.owner, stored)
            else:
                await pending.ledger.release(pending.scope, pending.owner)
        except Exception as exc:  # the response stands; the claim lapses with its lease
            logger.warning("could not record an idempotent response: {}", exc)
        return response

    @app.teardown_request
    async def _abandoned(_error: BaseException | None) -> None:
        # The request ended without a response (cancelled: the client went away, a timeout):
        # the claim is dropped now rather than when its lease runs out.
        pending: _Pending | None = g.pop("idempotency", None)
        if pending is None:
            return
        if pending.renewer is not None:
            pending.renewer.cancel()
        with suppress(RuntimeError):
            _later(_release(pending))
