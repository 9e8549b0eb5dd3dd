"""User management by admins, callable without HTTP (routes, tests, CLI commands).

Functions take the platform (`get_platform()`) and the acting admin (`actor`, None when no
person acts, e.g. a maintenance script). Account rules shared with the users plugin (locking,
the last active admin, soft deletion) come from its public service module.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from kernel.api import ApiError, Role, User, UserStatus, iso
from plugins.users import service as users

audit = logging.getLogger("platform.audit")

EMAIL_EXISTS = users.EMAIL_EXISTS


def utcnow() -> datetime:
    return datetime.now(UTC)


def admin_user_dict(user: User) -> dict[str, Any]:
    """The profile fields plus what only admins see."""
    return users.profile_dict(user) | {
        "last_login": iso(user.last_login),
        "ban_reason": user.ban_reason,
        "banned_until": iso(user.banned_until),
    }


async def record(
    platform: Any, event: str, actor: User | None, user_id: int, summary: str, **details: Any
) -> None:
    """The audit trail of one admin action: a `platform.audit` line and an event."""
    actor_id = actor.id if actor else None
    audit.info("admin %s %s (user %s)", actor_id if actor_id else "system", summary, user_id)
    await platform.events.publish(event, actor_id=actor_id, user_id=user_id, **details)


# -- reading ---------------------------------------------------------------------------------


def search_users(keyword: str | None = None, status: UserStatus | None = None) -> Any:
    """A queryset of users, in id order; `keyword` matches username, email or nickname."""
    query = User.all()
    if status is not None:
        query = query.filter(status=status)
    if keyword:
        query = query.filter(
            Q(username__icontains=keyword)
            | Q(email__icontains=keyword)
            | Q(nickname__icontains=keyword)
        )
    return query.order_by("id")


async def lift_expired_bans(platform: Any) -> int:
    """End the timed bans whose time has passed (the kernel does it at the user's next visit).

    Run before admin reads, so lists and filters show the true status. A conditional update
    per user: a concurrent lift by the kernel cannot publish `user.unbanned` twice.
    """
    lifted = 0
    now = utcnow()
    expired = User.filter(status=UserStatus.BANNED, banned_until__lte=now)
    for user_id in await expired.values_list("id", flat=True):
        won = await User.filter(id=user_id, status=UserStatus.BANNED, banned_until__lte=now).update(
            status=UserStatus.ACTIVE, ban_reason=None, banned_until=None, updated_at=now
        )
        if won:
            lifted += 1
            await platform.auth.user_changed(user_id)
            await platform.events.publish("user.unbanned", user_id=user_id, reason="ban expired")
    return lifted


async def get_user(platform: Any, user_id: int) -> User:
    """The user (deleted ones too); 404 (code 1003) for an unknown id."""
    await lift_expired_bans(platform)
    return await users.get_user(user_id)


# -- changes ---------------------------------------------------------------------------------


def _refuse_self(actor: User | None, user_id: int, action: str) -> None:
    if actor is not None and actor.id == user_id:
        raise ApiError(409, f"you cannot {action} yourself: ask another admin")


def _refuse_deleted(user: User) -> None:
    if user.status == UserStatus.DELETED:
        raise ApiError(409, f"user {user.id} is deleted: a deleted account cannot be changed")


async def update_user(
    platform: Any, actor: User | None, user_id: int, changes: dict[str, Any]
) -> User:
    """Change nickname, email, status or role; all of them or none.

    status `deleted` deletes (and must come alone), `banned` bans permanently, `active` lifts a
    ban. Publishes `admin.user_updated` with `changes` {field: {"from", "to"}} when something
    changed.
    """
    if changes.get("status") == UserStatus.DELETED:
        if len(changes) > 1:
            raise ApiError(
                422, "status: 'deleted' cannot be combined with other changes; delete alone"
            )
        return await delete_user(platform, actor, user_id)
    if changes.get("role") == Role.USER:
        _refuse_self(actor, user_id, "demote")
    if changes.get("status") == UserStatus.BANNED:
        _refuse_self(actor, user_id, "ban")
    if "email" in changes:
        await users.refuse_taken_email(changes["email"], user_id)

    async with users.locked_user(user_id, with_admins=True) as (user, admins):
        _refuse_deleted(user)
        diff = {
            name: {"from": getattr(user, name), "to": value}
            for name, value in changes.items()
            if getattr(user, name) != value
        }
        if "role" in diff and diff["role"]["to"] == Role.USER:
            users.refuse_losing_last_admin(user, admins, "demote")
        if "status" in diff:
            if diff["status"]["to"] == UserStatus.BANNED:
                users.refuse_losing_last_admin(user, admins, "ban")
            # A ban set here is permanent; leaving `banned` lifts the ban.
            for name in ("ban_reason", "banned_until"):
                if getattr(user, name) is not None:
                    diff[name] = {"from": getattr(user, name), "to": None}
        for name, change in diff.items():
            setattr(user, name, change["to"])
        if diff:
            try:
                await user.save(update_fields=[*diff, "updated_at"])
            except IntegrityError as exc:  # lost a race for the same address
                raise ApiError(409, "email already exists", EMAIL_EXISTS) from exc
    if not diff:
        return user
    await users.after_commit(platform, user.id)
    if user.status == UserStatus.BANNED:
        await platform.auth.end_all_access(user)
    described = {
        name: {"from": _plain(change["from"]), "to": _plain(change["to"])}
        for name, change in diff.items()
    }
    summary = ", ".join(f"{name} {c['from']!r} -> {c['to']!r}" for name, c in described.items())
    await record(
        platform,
        "admin.user_updated",
        actor,
        user.id,
        f"updated user {user.username}: {summary}",
        changes=described,
        fields=",".join(described),
    )
    return user


def _plain(value: Any) -> Any:
    """JSON-friendly: enums as their value, times in the API's format."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Role | UserStatus):
        return str(value)
    return value


async def delete_user(platform: Any, actor: User | None, user_id: int) -> User:
    """Soft-delete an account (the users plugin's policy); publishes `admin.user_deleted`."""
    _refuse_self(actor, user_id, "delete")
    user = await users.get_user(user_id)
    username = user.username
    deleted = await users.delete_account(platform, user, actor_id=actor.id if actor else None)
    await record(
        platform,
        "admin.user_deleted",
        actor,
        deleted.id,
        f"deleted user {username}",
        username=username,
    )
    return deleted


async def ban_user(
    platform: Any,
    actor: User | None,
    user_id: int,
    reason: str | None = None,
    duration_hours: float | None = None,
) -> User:
    """Ban for `duration_hours` (None: until unbanned); every session of the user ends now.

    Banning a banned user replaces the ban (new reason and end). Publishes `admin.user_banned`.
    """
    _refuse_self(actor, user_id, "ban")
    reason = reason or None
    async with users.locked_user(user_id, with_admins=True) as (user, admins):
        if user.status == UserStatus.DELETED:
            raise ApiError(409, f"user {user.id} is deleted and cannot be banned")
        users.refuse_losing_last_admin(user, admins, "ban")
        until = utcnow() + timedelta(hours=duration_hours) if duration_hours else None
        user.status, user.ban_reason, user.banned_until = UserStatus.BANNED, reason, until
        await user.save(update_fields=["status", "ban_reason", "banned_until", "updated_at"])
    await users.after_commit(platform, user.id)
    await platform.auth.end_all_access(user)
    length = f"for {duration_hours:g} h until {iso(until)}" if until else "permanently"
    because = f": {reason}" if reason else ""
    await record(
        platform,
        "admin.user_banned",
        actor,
        user.id,
        f"banned user {user.username} {length}{because}",
        reason=reason,
        duration=duration_hours,
        banned_until=iso(until),
    )
    return user


async def unban_user(platform: Any, actor: User | None, user_id: int) -> User:
    """Lift a ban (409 when the user is not banned); publishes `admin.user_unbanned`."""
    async with users.locked_user(user_id) as (user, _admins):
        _refuse_deleted(user)
        if user.status != UserStatus.BANNED:
            raise ApiError(409, f"user {user.id} is not banned")
        reason, until = user.ban_reason, user.banned_until
        user.status, user.ban_reason, user.banned_until = UserStatus.ACTIVE, None, None
        await user.save(update_fields=["status", "ban_reason", "banned_until", "updated_at"])
    await users.after_commit(platform, user.id)
    await record(
        platform,
        "admin.user_unbanned",
        actor,
        user.id,
        f"unbanned user {user.username}",
        ban_reason=reason,
        banned_until=iso(until),
    )
    return user
