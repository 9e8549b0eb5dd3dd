"""Recordings of meetings: state machine recording → processing → completed | failed."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RecordingStatus(StrEnum):
    RECORDING = "recording"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class Recording(Model):
    """One recording of a meeting. Its composed file is a media file (`file_id`) once completed."""

    id = fields.IntField(primary_key=True)
    meeting_id = fields.IntField(db_index=True)
    user = fields.ForeignKeyField("kernel.User", related_name="recordings", on_delete="CASCADE")
    title = fields.CharField(max_length=200, null=True)
    status = fields.CharEnumField(RecordingStatus, max_length=16, default=RecordingStatus.RECORDING)
    quality = fields.CharField(max_length=8, default="720p")
    format = fields.CharField(max_length=8, default="mp4")
    node = fields.CharField(max_length=128, null=True)
    job_id = fields.IntField(null=True)
    file_id = fields.IntField(null=True)
    duration = fields.FloatField(null=True)
    size = fields.BigIntField(null=True)
    error = fields.TextField(null=True)
    started_at = fields.DatetimeField(auto_now_add=True)
    stopped_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recordings"
