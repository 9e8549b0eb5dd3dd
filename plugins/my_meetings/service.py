"""The caller's meetings: all, upcoming (soonest first), history (newest first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from plugins.meetings.models import MeetingStatus
from plugins.meetings.service import CLOSED, meetings_of


def mine(user_id: int) -> Any:
    return meetings_of(user_id).order_by("-start_time", "-id")


def upcoming(user_id: int) -> Any:
    """Not ended or cancelled, starting in the future: the soonest first."""
    return (
        meetings_of(user_id)
        .filter(start_time__gt=datetime.now(UTC))
        .exclude(status__in=list(CLOSED))
        .order_by("start_time", "id")
    )


def history(user_id: int) -> Any:
    """Ended, or past their end time without being cancelled: the newest first."""
    past = Q(status=MeetingStatus.ENDED) | Q(
        end_time__lt=datetime.now(UTC), status__not=MeetingStatus.CANCELLED
    )
    return meetings_of(user_id).filter(past).order_by("-start_time", "-id")
