"""Schemas of the signaling REST endpoints (39-43), for validation and the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel

from kernel.api import PageQuery


class SessionOut(BaseModel):
    session_id: str
    peer_id: str
    meeting_id: int
    user_id: int
    status: str
    node: str
    user_agent: str | None
    connected_at: str
    last_seen: str
    disconnected_at: str | None


class SessionList(BaseModel):
    sessions: list[SessionOut]
    total: int


class HistoryQuery(PageQuery):
    pass


class HistoryItem(BaseModel):
    id: int
    type: str
    session_id: str | None
    meeting_id: int
    data: dict
    timestamp: str


class HistoryList(BaseModel):
    messages: list[HistoryItem]
    total: int
    page: int
    page_size: int


class OverviewOut(BaseModel):
    connections: int
    rooms: int
    sessions: int
    node: dict
    nodes: list[str]


class RoomStats(BaseModel):
    meeting_id: int
    sessions: int
    users: int
    messages_kept: int
    messages_delivered_here: int


class RoomStatsList(BaseModel):
    rooms: list[RoomStats]
    total: int
