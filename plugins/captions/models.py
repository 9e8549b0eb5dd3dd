"""The transcript of a meeting: one row per final caption."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TranscriptSegment(Model):
    """What one participant said in one utterance (times: seconds into the meeting)."""

    id = fields.IntField(primary_key=True)
    meeting_id = fields.IntField(db_index=True)
    user_id = fields.IntField(null=True)
    session_id = fields.CharField(max_length=64)
    text = fields.TextField()
    start_seconds = fields.FloatField()
    end_seconds = fields.FloatField()
    language = fields.CharField(max_length=16, default="en")
    engine = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "transcript_segments"


class CaptionRoom(Model):
    """Which node captions a meeting (one bot per meeting in a deployment), and its heartbeat."""

    meeting_id = fields.IntField(primary_key=True, generated=False)
    node = fields.CharField(max_length=128)
    heartbeat_at = fields.DatetimeField()

    class Meta:
        table = "caption_rooms"
