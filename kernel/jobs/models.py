"""The job table: one row per long job, the single source of truth for its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class Job(Model):
    """A long job (FFmpeg, AI...) of one user, run by whichever node takes it from the queue."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=64, db_index=True)
    user_id = fields.IntField(db_index=True)
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.PENDING)
    progress = fields.IntField(default=0)
    params = fields.JSONField(default=dict)
    result = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    timeout = fields.IntField()
    node = fields.CharField(max_length=128, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)

    class Meta:
        table = "jobs"
        indexes = (("status", "heartbeat_at"),)


class JobNode(Model):
    """A node that runs jobs (a server or a `platform worker`), kept fresh by its heartbeat."""

    name = fields.CharField(max_length=128, primary_key=True)
    kinds = fields.JSONField(default=list)
    workers = fields.IntField(default=0)
    running = fields.IntField(default=0)
    host = fields.CharField(max_length=255, null=True)
    pid = fields.IntField(null=True)
    started_at = fields.DatetimeField()
    heartbeat_at = fields.DatetimeField()
    checked_at = fields.DatetimeField(null=True)
    stopped_at = fields.DatetimeField(null=True)
    models = fields.JSONField(default=dict)

    def state(self, stale_after: float) -> str:
        """stopped (said goodbye), online (fresh heartbeat) or offline (crashed, cut off)."""
        if self.stopped_at is not None:
            return "stopped"
        fresh = datetime.now(UTC) - self.heartbeat_at < timedelta(seconds=stale_after)
        return "online" if fresh else "offline"

    class Meta:
        table = "job_nodes"
