"""Schemas of export and import (http/porting.py): the exported document, the export query."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from taskflow.http.schemas import Query

Status = Literal["todo", "in_progress", "done"]


class ExportArgs(Query):
    format: Literal["json", "csv"] = Field(
        "json", description="json: the whole board (importable); csv: its tasks")


class ExportBoard(BaseModel):
    name: str
    description: str


class ExportColumn(BaseModel):
    id: str = Field(description="Referred to by the tasks' column_id (not kept on import)")
    name: str
    category: Status
    wip_limit: int | None
    order: int


class ExportMember(BaseModel):
    email: str
    name: str
    role: Literal["owner", "editor", "viewer"]


class ExportChecklistItem(BaseModel):
    text: str
    done: bool
    position: float


class ExportComment(BaseModel):
    author_email: str | None
    author_name: str | None
    body: str
    created_at: str | None


class ExportAttachment(BaseModel):
    filename: str
    content_type: str
    size: int
    created_by_email: str | None
    created_at: str | None


class ExportTask(BaseModel):
    id: str
    title: str
    description: str
    column_id: str
    status: Status
    priority: Literal["low", "medium", "high", "urgent"]
    due_date: str | None
    assignee_email: str | None
    tags: list[str]
    position: float
    checklist: list[ExportChecklistItem]
    created_by_email: str | None
    created_at: str | None
    updated_at: str | None
    completed_at: str | None
    comments: list[ExportComment]
    attachments: list[ExportAttachment] = Field(description="Metadata only, never the bytes")


class BoardExport(BaseModel):
    """A board as GET /boards/{id}/export writes it, and POST /boards/import reads it."""

    format: Literal["taskflow-board"]
    version: Literal[1]
    exported_at: str
    board: ExportBoard
    columns: list[ExportColumn]
    members: list[ExportMember]
    tasks: list[ExportTask]
