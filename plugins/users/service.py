"""Accounts seen by their owner: profile, password, avatar, deletion. Callable without HTTP.

The functions that change an account take the platform (`get_platform()`) or its AuthService
first: they need its settings (the data dir), its event bus and its token revocation. Account
changes go through `user.save()` so every node's user cache hears of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError, features
from quart import has_app_context
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from kernel.api import MAX_ID, ApiError, Role, User, UserStatus, iso, public_url

log = logging.getLogger("platform.users")

EMAIL_EXISTS = 1002
USER_NOT_FOUND = 1003

# -- avatars: limits of the API contract and of what we agree to decode -------------------
MAX_AVATAR_BYTES = 5 * 1024 * 1024
# Decoded size guard (decompression bombs): a 5 MB PNG can claim 50000x50000 pixels.
MAX_AVATAR_PIXELS = 40_000_000
AVATAR_BOX = (256, 256)
# Formats Pillow may decode here; anything else (TIFF, PSD, EPS, ...) is refused unread.
AVATAR_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
AVATAR_ROUTE = "/api/v1/users/avatars/"
AVATAR_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:webp|png)$")
AVATAR_MIME = {"webp": "image/webp", "png": "image/png"}
_BAD_IMAGE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, TypeError)


def _auth(platform_or_auth: Any) -> Any:
    """The AuthService, given the platform or the AuthService itself."""
    return getattr(platform_or_auth, "auth", platform_or_auth)


# -- reading ---------------------------------------------------------------------------------


def avatar_url(user: User) -> str | None:
    """The avatar as clients see it: uploaded avatars become absolute URLs of this deployment."""
    stored = user.avatar_url
    if stored and stored.startswith(AVATAR_ROUTE) and has_app_context():
        return public_url(stored)
    return stored


def profile_dict(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "nickname": user.nickname,
        "avatar_url": avatar_url(user),
        "role": str(user.role),
        "status": str(user.status),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


async def get_user(user_id: int) -> User:
    """The user with this id, deleted ones included; 404 (code 1003) when there is none."""
    user = await User.get_or_none(id=user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        raise ApiError(404, f"user {user_id} not found", USER_NOT_FOUND)
    return user


@contextlib.asynccontextmanager
async def locked_user(
    user_id: int, *, with_admins: bool = False
) -> AsyncIterator[tuple[User, list[int]]]:
    """In a transaction: the user's row, locked, and (`with_admins`) the active admins' ids.

    The changes made inside commit together or not at all. With `with_admins` the rows of the
    active admins are locked first, in id order, so two concurrent changes cannot both remove
    "one of two" admins, and lock order cannot deadlock (a transaction locking the user's row
    alone holds one lock and waits for none). PostgreSQL row locks; SQLite runs one write
    transaction at a time anyway. Without `with_admins` the list is empty.
    """
    if not 0 < user_id <= MAX_ID:
        raise ApiError(404, f"user {user_id} not found", USER_NOT_FOUND)
    async with in_transaction():
        admins = []
        if with_admins:
            admins = (
                await User.filter(role=Role.ADMIN, status=UserStatus.ACTIVE)
                .select_for_update()
                .order_by("id")
            )
        user = await User.filter(id=user_id).select_for_update().first()
        if user is None:
            raise ApiError(404, f"user {user_id} not found", USER_NOT_FOUND)
        yield user, [admin.id for admin in admins]


def refuse_losing_last_admin(user: User, active_admins: list[int], action: str) -> None:
    """409 when `action` (delete, ban, demote) would leave the deployment without an admin."""
    if user.id in active_admins and len(active_admins) <= 1:
        raise ApiError(
            409,
            f"cannot {action} the last active admin: promote another user to admin first",
        )


async def refuse_taken_email(email: str, user_id: int) -> None:
    if await User.filter(email=email).exclude(id=user_id).exists():
        raise ApiError(409, "email already exists", EMAIL_EXISTS)


async def after_commit(platform_or_auth: Any, user_id: int) -> None:
    """Drop the user from every node's cache once the transaction is visible.

    The save inside the transaction already did, but a request in between may have cached the
    row as it was before the commit.
    """
    await _auth(platform_or_auth).user_changed(user_id)


# -- profile ---------------------------------------------------------------------------------


async def update_profile(platform: Any, user: User, changes: dict[str, Any]) -> User:
    """Apply `changes` (nickname, email, avatar_url) to the user; all of them or none.

    An avatar_url equal to the current one (a client sending the profile back) changes
    nothing; replacing an uploaded avatar deletes its file. Publishes `user.updated`.
    """
    if "email" in changes:
        await refuse_taken_email(changes["email"], user.id)
    async with locked_user(user.id) as (fresh, _admins):
        if "avatar_url" in changes and changes["avatar_url"] in (
            fresh.avatar_url,
            avatar_url(fresh),
        ):
            changes = {k: v for k, v in changes.items() if k != "avatar_url"}
        changed = [name for name, value in changes.items() if getattr(fresh, name) != value]
        old_avatar = fresh.avatar_url
        if changed:
            for name in changed:
                setattr(fresh, name, changes[name])
            try:
                await fresh.save(update_fields=[*changed, "updated_at"])
            except IntegrityError as exc:  # lost a race for the same address
                raise ApiError(409, "email already exists", EMAIL_EXISTS) from exc
    if not changed:
        return fresh
    await after_commit(platform, fresh.id)
    if "avatar_url" in changed:
        await remove_avatar_file(platform, old_avatar)
    await _auth(platform).events.publish("user.updated", user_id=fresh.id, changed=changed)
    return fresh


async def change_password(
    platform: Any, user: User, old_password: str, new_password: str, session: str | None
) -> None:
    """New password; the login `session` (the access token's family) stays signed in.

    Wrong old password: 400 (code 1004). The other logins' refresh tokens are revoked.
    """
    await _auth(platform).change_password(user, old_password, new_password, keep_family=session)


# -- avatars ---------------------------------------------------------------------------------


def avatar_dir(platform: Any) -> Path:
    """`<data_dir>/avatars` (not created here)."""
    settings = _auth(platform).settings
    return Path(settings.get("data_dir") or "./data") / "avatars"


def avatar_format() -> tuple[str, str]:
    """(Pillow format, file extension) of stored avatars: WebP when Pillow has it, else PNG."""
    return ("WEBP", "webp") if features.check("webp") else ("PNG", "png")


def render_avatar(data: bytes) -> tuple[bytes, str]:
    """Decode an uploaded image, fit it in 256x256, re-encode it without metadata.

    CPU work: call it in a thread. Returns (bytes, extension); raises ApiError 413 (too many
    bytes or pixels) or 415 (not an image Pillow decodes as PNG, JPEG, GIF or WebP).
    """
    if len(data) > MAX_AVATAR_BYTES:
        raise ApiError(413, "file: the avatar is larger than 5 MB")
    try:
        with Image.open(io.BytesIO(data), formats=AVATAR_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_AVATAR_PIXELS:
                raise ApiError(
                    413,
                    f"file: the image is {width}x{height} pixels, more than "
                    f"{MAX_AVATAR_PIXELS} pixels in all",
                )
            image.draft("RGB", (AVATAR_BOX[0] * 2, AVATAR_BOX[1] * 2))  # JPEG: decode smaller
            image.load()
            upright = ImageOps.exif_transpose(image)
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            mode = "RGBA" if has_alpha else "RGB"
            picture = upright.convert(mode)
            picture.thumbnail(AVATAR_BOX, Image.Resampling.LANCZOS)
            # Only the pixels travel on: no EXIF, ICC profile, text chunks or comments.
            clean = Image.frombytes(mode, picture.size, picture.tobytes())
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"file: the image has too many pixels ({exc})") from exc
    except _BAD_IMAGE as exc:
        raise ApiError(
            415,
            "file: not an image this server accepts: upload a PNG, JPEG, GIF or WebP picture",
        ) from exc
    pillow_format, extension = avatar_format()
    out = io.BytesIO()
    if pillow_format == "WEBP":
        clean.save(out, "WEBP", quality=85, method=4)
    else:
        clean.save(out, "PNG", optimize=True)
    return out.getvalue(), extension


def _write_file(directory: Path, payload: bytes, extension: str) -> str:
    """Write `payload` under a random name: a temporary file first, renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, directory / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return name


def local_avatar_name(stored: str | None) -> str | None:
    """The file name of an uploaded avatar's stored path, None for external URLs."""
    if not stored or not stored.startswith(AVATAR_ROUTE):
        return None
    name = stored[len(AVATAR_ROUTE) :]
    return name if AVATAR_NAME_RE.match(name) else None


async def remove_avatar_file(platform: Any, stored: str | None) -> None:
    """Delete the file of an uploaded avatar (nothing for external URLs or missing files)."""
    name = local_avatar_name(stored)
    if name is None:
        return
    path = avatar_dir(platform) / name
    try:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    except OSError:
        log.warning("could not remove avatar file %s", path, exc_info=True)


def avatar_file(platform: Any, name: str) -> tuple[Path, str] | None:
    """(path, MIME type) of a stored avatar, None unless `name` is one of ours and exists."""
    if not AVATAR_NAME_RE.match(name):
        return None
    path = avatar_dir(platform) / name
    if not path.is_file():
        return None
    return path, AVATAR_MIME[name.rsplit(".", 1)[1]]


async def set_avatar(platform: Any, user: User, data: bytes) -> User:
    """Store `data` (the uploaded bytes) as the user's avatar and return the updated user.

    Either the new file is in place and the user points at it (the previous upload's file
    deleted), or nothing changed: a failure after writing the file removes it again.
    """
    payload, extension = await asyncio.to_thread(render_avatar, data)
    name = await asyncio.to_thread(_write_file, avatar_dir(platform), payload, extension)
    stored = f"{AVATAR_ROUTE}{name}"
    try:
        async with locked_user(user.id) as (fresh, _admins):
            if fresh.status != UserStatus.ACTIVE:
                raise ApiError(409, f"account is {fresh.status}")
            previous = fresh.avatar_url
            fresh.avatar_url = stored
            await fresh.save(update_fields=["avatar_url", "updated_at"])
    except BaseException:
        await remove_avatar_file(platform, stored)
        raise
    await after_commit(platform, fresh.id)
    if previous != stored:
        await remove_avatar_file(platform, previous)
    await _auth(platform).events.publish("user.updated", user_id=fresh.id, changed=["avatar_url"])
    return fresh


# -- deletion --------------------------------------------------------------------------------


async def _released_names(user_id: int) -> tuple[str, str]:
    """The username and email a deleted account takes, so its own become free again."""
    name = f"deleted-{user_id}"
    # Someone may have registered that very name: then add a random suffix.
    while (
        await User.filter(Q(username__iexact=name) | Q(email=f"{name}@deleted.invalid"))
        .exclude(id=user_id)
        .exists()
    ):
        name = f"deleted-{user_id}-{secrets.token_hex(4)}"
    return name, f"{name}@deleted.invalid"


async def delete_account(platform_or_auth: Any, user: User, actor_id: int | None = None) -> User:
    """Soft-delete the account (the policy is in this plugin's docstring) and return it.

    `actor_id` is who asked (an admin), None when the owner did. 404 (1003) for an unknown
    user, 409 for one already deleted or the last active admin. Publishes `user.deleted`.
    """
    auth = _auth(platform_or_auth)
    username, email = await _released_names(user.id)
    async with locked_user(user.id, with_admins=True) as (fresh, admins):
        if fresh.status == UserStatus.DELETED:
            raise ApiError(409, f"user {fresh.id} is already deleted")
        refuse_losing_last_admin(fresh, admins, "delete")
        old_avatar = fresh.avatar_url
        fresh.username, fresh.email = username, email
        fresh.status = UserStatus.DELETED
        fresh.nickname = fresh.avatar_url = fresh.ban_reason = fresh.banned_until = None
        await fresh.save()
    await after_commit(auth, fresh.id)
    await auth.end_all_access(fresh)
    await remove_avatar_file(auth, old_avatar)
    log.info("account %s deleted (by %s)", fresh.id, actor_id or "its owner")
    await auth.events.publish("user.deleted", user_id=fresh.id, actor_id=actor_id)
    return fresh
