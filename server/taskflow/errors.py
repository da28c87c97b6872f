"""One error hierarchy with stable codes; HTTP and Socket.IO each render it in one place."""

from __future__ import annotations

from typing import Any

# Extra details that travel as HTTP headers, not in the problem document.
HEADER_ONLY = frozenset({"etag", "allow"})


class TaskFlowError(Exception):
    """Base of every error a client may see. `code` is stable; `title` is for humans."""

    status = 500
    code = "internal_error"
    title = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        """The RFC 9457 problem document (and the `error` of a Socket.IO ack)."""
        body: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status,
                                "detail": self.detail, "code": self.code}
        body.update({k: v for k, v in self.extra.items() if k not in HEADER_ONLY})
        return body


class BadRequest(TaskFlowError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedJSON(BadRequest):
    code, title = "malformed_json", "Malformed JSON body"


class Unauthorized(TaskFlowError):
    status, code, title = 401, "unauthorized", "Authentication required"


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Invalid email or password"


class TokenReused(Unauthorized):
    code, title = "refresh_token_reused", "Refresh token already used; the login was revoked"


class Forbidden(TaskFlowError):
    status, code, title = 403, "forbidden", "Not allowed"


class InsufficientScope(Forbidden):
    code, title = "insufficient_scope", "The access token's scopes don't allow this"


class NotFound(TaskFlowError):
    status, code, title = 404, "not_found", "Not found"


class UserNotFound(NotFound):
    code, title = "user_not_found", "No user with that email"


class MethodNotAllowed(TaskFlowError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(TaskFlowError):
    status, code, title = 409, "conflict", "Conflict"


class OwnsSharedBoards(Conflict):
    code, title = "owns_shared_boards", "The account owns boards that others use"


class IdempotencyKeyInUse(Conflict):
    code, title = "idempotency_key_in_use", "A request with this Idempotency-Key is still running"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class EventsGone(TaskFlowError):
    status, code, title = 410, "events_gone", "Events older than what is kept were requested"


class PreconditionFailed(TaskFlowError):
    status, code, title = 412, "precondition_failed", "The resource changed since you read it"


class PayloadTooLarge(TaskFlowError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(TaskFlowError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(TaskFlowError):
    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class IdempotencyKeyReused(TaskFlowError):
    status, code, title = 422, "idempotency_key_reused", "This Idempotency-Key was used for another request"


class RateLimited(TaskFlowError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(TaskFlowError):
    status, code, title = 503, "service_unavailable", "A dependency is unavailable; retry shortly"

    def __init__(self, detail: str | None = None, *, retry_after: int = 2, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


def field_error(loc: str, msg: str) -> ValidationFailed:
    """A 422 about one field of the request body."""
    return ValidationFailed(msg, errors=[{"loc": ["body", loc], "msg": msg}])
