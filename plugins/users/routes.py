"""/api/v1/users (endpoints 6-10): thin handlers over the service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import wraps
from typing import Any

from quart import Blueprint, request, send_file
from quart_schema import DataSource

from kernel.api import (
    ApiError,
    current_claims,
    current_user,
    get_platform,
    ok,
    rate_limit,
    require_auth,
    responds,
    validate_request,
)
from plugins.users import schemas as s
from plugins.users import service

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")

# Room for the multipart boundaries and part headers around a 5 MB file.
MULTIPART_OVERHEAD = 64 * 1024
AVATAR_MAX_AGE = 365 * 24 * 3600


def refuse_bodies_over(limit: int) -> Callable:
    """413 before reading a body whose declared length is over `limit` bytes."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.content_length is not None and request.content_length > limit:
                raise ApiError(413, "file: the avatar is larger than 5 MB")
            return await func(*args, **kwargs)

        return wrapper

    return decorator


@bp.get("/profile")
@require_auth
@rate_limit("high")
@responds(s.ProfileOut)
async def get_profile():
    """The caller's profile.

    Times are ISO 8601 UTC; `avatar_url` is absolute (an uploaded avatar is served by this
    deployment under /api/v1/users/avatars/).
    """
    return ok(service.profile_dict(current_user()))


@bp.put("/profile")
@require_auth
@rate_limit("general")
@validate_request(s.ProfileUpdateIn)
@responds(s.ProfileOut)
async def update_profile(data: s.ProfileUpdateIn):
    """Change nickname, email or avatar_url; answers the profile.

    At least one field. `null` clears nickname or avatar_url; avatar_url takes absolute
    http(s) URLs of at most 500 characters (replacing an uploaded avatar deletes its file).
    The email is stored lower-case. Errors: 409 (code 1002) email taken, 422 invalid field.
    """
    user = await service.update_profile(get_platform(), current_user(), data.changes())
    return ok(service.profile_dict(user), "profile updated")


@bp.post("/change-password")
@require_auth
@rate_limit("password_change")
@validate_request(s.ChangePasswordIn)
@responds(s.Empty)
async def change_password(data: s.ChangePasswordIn):
    """Set a new password (6-100 characters).

    The login that calls stays signed in; the refresh tokens of every other login are revoked.
    Errors: 400 (code 1004) wrong old_password, 422 invalid field.
    """
    await service.change_password(
        get_platform(),
        current_user(),
        data.old_password,
        data.new_password,
        current_claims().session,
    )
    return ok({}, "password changed; other sessions were signed out")


@bp.post("/upload-avatar")
@require_auth
@rate_limit("upload")
@refuse_bodies_over(service.MAX_AVATAR_BYTES + MULTIPART_OVERHEAD)
@validate_request(s.AvatarIn, source=DataSource.FORM_MULTIPART)
@responds(s.AvatarOut)
async def upload_avatar(data: s.AvatarIn):
    """Upload an avatar image (multipart field `file`); answers its absolute URL.

    The content decides, not the MIME type or file name: PNG, JPEG, GIF (first frame) or WebP,
    at most 5 MB and 40 megapixels. The stored copy fits 256x256 (aspect kept), is re-encoded
    without metadata (EXIF orientation applied) and replaces the previous upload.
    Errors: 413 too large, 415 not an accepted image, 422 no `file` field.
    """
    # One byte more than allowed is enough to know it is too big.
    content = await asyncio.to_thread(data.file.stream.read, service.MAX_AVATAR_BYTES + 1)
    user = await service.set_avatar(get_platform(), current_user(), content)
    return ok({"avatar_url": service.avatar_url(user)}, "avatar updated")


@bp.get("/avatars/<name>")
@rate_limit("high")
async def avatar(name: str):
    """An uploaded avatar (public; a name never changes content, so it caches for a year)."""
    found = service.avatar_file(get_platform(), name)
    if found is None:
        raise ApiError(404, "avatar not found")
    path, mimetype = found
    try:
        response = await send_file(
            path, mimetype=mimetype, conditional=True, cache_timeout=AVATAR_MAX_AGE
        )
    except FileNotFoundError as exc:  # replaced between the check and the read
        raise ApiError(404, "avatar not found") from exc
    response.headers["Cache-Control"] = f"public, max-age={AVATAR_MAX_AGE}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


@bp.delete("/account")
@require_auth
@rate_limit("general")
@responds(s.AccountDeletedOut)
async def delete_account():
    """Delete the caller's account (soft).

    Status `deleted`; username and email become `deleted-<id>` and
    `deleted-<id>@deleted.invalid` so both can be registered again; nickname and avatar are
    cleared; every token stops working at once. Meetings, messages and files of others stay.
    Errors: 409 for the last active admin (promote another admin first).
    """
    user = await service.delete_account(get_platform(), current_user())
    return ok({"user_id": user.id, "status": str(user.status)}, "account deleted")
