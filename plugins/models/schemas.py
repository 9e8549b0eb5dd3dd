"""Request and response schemas of /api/v1/models."""

from __future__ import annotations

from pydantic import Field

from kernel.api import Out, Schema


class ChangeIn(Schema):
    node_id: str | None = Field(
        default=None, max_length=128, description="only this node; default: every node"
    )


class ModelOnNode(Out):
    node_id: str
    status: str = Field(description="unloaded | loading | loaded | failed")
    memory_bytes: int | None
    loaded_at: str | None
    last_used_at: str | None
    load_seconds: float | None
    jobs_run: int
    error: str | None
    changed_at: str | None = Field(description="when its status last changed")


class ModelOut(Out):
    model_id: str
    task: str
    engine: str
    path: str | None = Field(description="admins only")
    languages: list[str] | None
    status: str = Field(description="loaded | loading | failed | unloaded | unavailable")
    loaded: bool
    memory_bytes: int | None = Field(description="resident memory where it is loaded")
    last_used_at: str | None
    node: str | None = Field(description="a node where it is loaded")
    error: str | None
    nodes: list[ModelOnNode]


class ModelList(Out):
    models: list[ModelOut]
    total: int
