"""/tasks/{id}/attachments: multipart uploads, direct S3 uploads, downloads."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, request, send_file
from quart_schema import (
    DataSource,
    document_request,
    tag_blueprint,
    validate_request,
)

from taskflow.blobs import content_disposition
from taskflow.errors import ServiceUnavailable, ValidationFailed
from taskflow.http.openapi import responds
from taskflow.http.responses import json_body
from taskflow.http.runtime import authenticated, runtime
from taskflow.http.schemas import (
    AttachmentList,
    AttachmentOut,
    DirectUploadIn,
    DirectUploadOut,
    UploadForm,
    UploadOptionsOut,
)
from taskflow.services.access import Actor
from taskflow.services.views import attachment_view

blueprint = Blueprint("attachments", __name__, url_prefix="/api/v1/tasks/<task_id>/attachments")
tag_blueprint(blueprint, ["attachments"])


@blueprint.post("")
@authenticated
@document_request(UploadForm, source=DataSource.FORM_MULTIPART)
@json_body(AttachmentOut, 201)
async def upload(task_id: str, actor: Actor) -> tuple[dict[str, Any], int]:
    """Attach a file (multipart/form-data, field `file`); at most TASKFLOW_MAX_UPLOAD_MB."""
    try:
        files = await request.files
    except OSError as exc:  # the parser spools a big upload to a temporary file: a full disk
        raise ServiceUnavailable("Storage is unavailable; retry shortly") from exc
    upload = files.get("file")
    if upload is None or len(files) != 1:
        msg = "send exactly one file, in the multipart field `file`"
        raise ValidationFailed(msg, errors=[{"loc": ["body", "file"], "msg": msg}])
    try:
        attachment = await runtime().services.attachments.upload(
            actor, task_id, filename=upload.filename or "file", content_type=upload.mimetype,
            source=upload.stream)
    finally:
        upload.close()
    return attachment_view(attachment), 201


@blueprint.get("")
@authenticated
@json_body(AttachmentList, 200)
async def list_attachments(task_id: str, actor: Actor) -> dict[str, Any]:
    """The task's attachments (metadata)."""
    items = await runtime().services.attachments.list(actor, task_id)
    return {"items": [attachment_view(a) for a in items], "next_cursor": None}


@blueprint.get("/<attachment_id>/content")
@authenticated
@responds(r200="The file (embedded store)", r302="Redirect to a presigned S3 URL")
async def content(task_id: str, attachment_id: str, actor: Actor) -> Response:
    """The bytes (embedded store), or a redirect to a short-lived presigned S3 URL."""
    attachment, where = await runtime().services.attachments.download(actor, task_id,
                                                                      attachment_id)
    if where.url is not None:
        response: Response = redirect(where.url, 302)  # type: ignore[assignment]
    else:
        assert where.path is not None
        response = await send_file(where.path, mimetype=attachment.content_type,
                                   conditional=True)
    # Downloaded, never rendered: an uploaded HTML file must not run in this origin.
    response.headers["Content-Disposition"] = content_disposition(attachment.filename)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.delete("/<attachment_id>")
@authenticated
async def delete(task_id: str, attachment_id: str, actor: Actor) -> Response:
    """Delete an attachment and its file."""
    await runtime().services.attachments.delete(actor, task_id, attachment_id)
    return Response(status=204)


@blueprint.get("/uploads")
@authenticated
@json_body(UploadOptionsOut, 200)
async def upload_options(task_id: str, actor: Actor) -> dict[str, Any]:
    """How files can be attached to this task: the size limit, and whether direct S3 uploads work."""
    max_bytes, direct = await runtime().services.attachments.upload_options(actor, task_id)
    return {"max_bytes": max_bytes, "direct_upload": direct}


@blueprint.post("/uploads")
@authenticated
@validate_request(DirectUploadIn)
@json_body(DirectUploadOut, 201)
async def start_direct_upload(task_id: str, data: DirectUploadIn,
                              actor: Actor) -> tuple[dict[str, Any], int]:
    """S3 only: a presigned POST for the bytes; confirm with .../{attachment_id}/complete."""
    service = runtime().services.attachments
    attachment, form = await service.start_upload(actor, task_id, filename=data.filename,
                                                  content_type=data.content_type, size=data.size)
    return {"attachment_id": attachment.id, "upload": form,
            "expires_in": runtime().settings.s3_url_ttl}, 201


@blueprint.post("/<attachment_id>/complete")
@authenticated
@json_body(AttachmentOut, 201)
async def complete_direct_upload(task_id: str, attachment_id: str,
                                 actor: Actor) -> tuple[dict[str, Any], int]:
    """S3 only: confirm a direct upload once the bytes are in the bucket."""
    attachment = await runtime().services.attachments.complete_upload(actor, task_id,
                                                                      attachment_id)
    return attachment_view(attachment), 201
