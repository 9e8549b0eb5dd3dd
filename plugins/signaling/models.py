"""Signaling sessions (one per WebSocket connection) and the room history worth keeping."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class SessionStatus(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


class SignalingSession(Model):
    """One device in one room. The node and connection fields say which socket holds it now."""

    id = fields.CharField(max_length=32, primary_key=True)
    meeting_id = fields.IntField(db_index=True)
    user_id = fields.IntField(db_index=True)
    status = fields.CharEnumField(SessionStatus, max_length=16, db_index=True)
    node = fields.CharField(max_length=200)
    connection_id = fields.CharField(max_length=32)
    user_agent = fields.CharField(max_length=300, null=True)
    connected_at = fields.DatetimeField()
    last_seen = fields.DatetimeField()
    disconnected_at = fields.DatetimeField(null=True)

    class Meta:
        table = "signaling_sessions"


class SignalingMessage(Model):
    """A room message kept for history: joins, leaves, media state and chat."""

    id = fields.IntField(primary_key=True)
    meeting_id = fields.IntField(db_index=True)
    type = fields.CharField(max_length=32)
    from_user = fields.IntField(null=True)
    session_id = fields.CharField(max_length=32, null=True)
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "signaling_messages"
