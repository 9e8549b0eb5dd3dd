"""Stored files: who uploaded what, for which meeting, and what it is (probed, not claimed)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class FileType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    DOCUMENT = "document"


class MediaFile(Model):
    """One stored file. The bytes live in the kernel storage under `storage_key`."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("kernel.User", related_name="media_files", on_delete="CASCADE")
    meeting_id = fields.IntField(null=True, db_index=True)
    file_name = fields.CharField(max_length=255)
    storage_key = fields.CharField(max_length=500, unique=True)
    file_type = fields.CharEnumField(FileType, max_length=16)
    mime_type = fields.CharField(max_length=127)
    size = fields.BigIntField()
    duration = fields.FloatField(null=True)
    width = fields.IntField(null=True)
    height = fields.IntField(null=True)
    codec = fields.CharField(max_length=64, null=True)
    audio_codec = fields.CharField(max_length=64, null=True)
    bitrate = fields.BigIntField(null=True)
    format_name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "media_files"
        indexes = (("user_id", "created_at"),)
