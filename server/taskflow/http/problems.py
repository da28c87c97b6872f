"""Every error becomes application/problem+json here, and nowhere else."""

from __future__ import annotations

import json
from typing import Any

from loguru import logger
from pydantic import ValidationError
from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError
from werkzeug.exceptions import HTTPException

from taskflow.errors import (
    BadRequest,
    IdempotencyKeyInUse,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    TaskFlowError,
    UnsupportedMediaType,
    ValidationFailed,
)

_BY_STATUS: dict[int, type[TaskFlowError]] = {
    400: BadRequest, 404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def problem_response(error: TaskFlowError) -> Response:
    response = Response(json.dumps(error.payload()), status=error.status,
                        content_type="application/problem+json")
    if isinstance(error, RateLimited | ServiceUnavailable | IdempotencyKeyInUse):
        response.headers["Retry-After"] = str(error.retry_after)
    if "etag" in error.extra:
        response.headers["ETag"] = error.extra["etag"]
    if isinstance(error, MethodNotAllowed) and "allow" in error.extra:
        response.headers["Allow"] = error.extra["allow"]
    return response


def _validation_errors(exc: RequestSchemaValidationError) -> ValidationFailed:
    where = "query" if isinstance(exc, QuerystringValidationError) else "body"
    cause = exc.validation_error
    errors: list[dict[str, Any]] = []
    if isinstance(cause, ValidationError):
        for item in cause.errors(include_url=False, include_input=False, include_context=False):
            errors.append({"loc": [where, *item["loc"]], "msg": item["msg"]})
    elif isinstance(cause, TypeError):
        errors.append({"loc": [where], "msg": "must be a JSON object"})
    else:
        errors.append({"loc": [where], "msg": str(cause)})
    first = errors[0] if errors else {"loc": [where], "msg": "invalid"}
    detail = f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
    return ValidationFailed(detail, errors=errors)


def register(app: Quart) -> None:
    """Installs the handlers that turn every exception into a problem response."""

    @app.errorhandler(TaskFlowError)
    async def _domain(error: TaskFlowError) -> Response:
        return problem_response(error)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema(error: RequestSchemaValidationError) -> Response:
        return problem_response(_validation_errors(error))

    @app.errorhandler(HTTPException)
    async def _http(error: HTTPException) -> Response:
        status = error.code or 500
        kind = _BY_STATUS.get(status)
        problem = kind() if kind else TaskFlowError(error.description or "HTTP error")
        if kind is None:
            problem.status, problem.code = status, "http_error"
            problem.title = error.name
        if isinstance(problem, MethodNotAllowed):
            allowed = getattr(error, "valid_methods", None)
            if allowed:
                problem.extra["allow"] = ", ".join(sorted(allowed))
        return problem_response(problem)

    @app.errorhandler(Exception)
    async def _unknown(error: Exception) -> Response:
        logger.opt(exception=error).error("unhandled error: {}", type(error).__name__)
        return problem_response(TaskFlowError())
