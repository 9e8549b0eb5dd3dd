"""Live streams of meetings: RTMP pushes and HLS outputs."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class StreamStatus(StrEnum):
    LIVE = "live"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


class Stream(Model):
    """A live stream. The id is random: it is also the secret part of the HLS playback URL."""

    id = fields.CharField(max_length=32, primary_key=True)
    meeting_id = fields.IntField(db_index=True)
    user = fields.ForeignKeyField("kernel.User", related_name="streams", on_delete="CASCADE")
    protocol = fields.CharField(max_length=8)
    url = fields.CharField(max_length=500, null=True)
    status = fields.CharEnumField(StreamStatus, max_length=16, default=StreamStatus.LIVE)
    error = fields.TextField(null=True)
    node = fields.CharField(max_length=128, null=True)
    bytes_sent = fields.BigIntField(default=0)
    reconnects = fields.IntField(default=0)
    started_at = fields.DatetimeField(auto_now_add=True)
    stopped_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)

    class Meta:
        table = "streams"
