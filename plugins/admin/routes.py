"""/api/v1/admin/users (endpoints 11-16, admins only): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import document_request

from kernel.api import (
    current_user,
    get_platform,
    ok,
    optional_body,
    paginate,
    rate_limit,
    require_role,
    responds,
    validate_querystring,
    validate_request,
)
from plugins.admin import schemas as s
from plugins.admin import service

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin/users")


@bp.get("")
@require_role("admin")
@rate_limit("high")
@validate_querystring(s.UserListQuery)
@responds(s.UserList)
async def list_users(query_args: s.UserListQuery):
    """Users in id order, a page at a time, deleted ones included.

    `keyword` matches part of the username, email or nickname in any case; `status` is
    active, banned or deleted. Timed bans that have ended show as lifted.
    """
    await service.lift_expired_bans(get_platform())
    query = service.search_users(query_args.keyword, query_args.status)
    rows, total = await paginate(query, query_args.page, query_args.page_size)
    return ok(
        {
            "users": [service.admin_user_dict(user) for user in rows],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.get("/<int:user_id>")
@require_role("admin")
@rate_limit("high")
@responds(s.AdminUserOut)
async def get_user(user_id: int):
    """One user: the profile fields with last_login, ban_reason and banned_until.

    Errors: 404 (code 1003) unknown user.
    """
    user = await service.get_user(get_platform(), user_id)
    return ok(service.admin_user_dict(user))


@bp.put("/<int:user_id>")
@require_role("admin")
@rate_limit("general")
@validate_request(s.AdminUserUpdateIn)
@responds(s.AdminUserOut)
async def update_user(user_id: int, data: s.AdminUserUpdateIn):
    """Change nickname, email, status or role; answers the user.

    status `banned` is a permanent ban (ends the user's sessions), `active` lifts a ban,
    `deleted` deletes like DELETE (and must come alone). Admins cannot demote, ban or delete
    themselves, and nobody can remove the last active admin. A deleted account cannot be
    changed. Errors: 404 (1003) unknown user, 409 (1002) email taken, 409 refused as above.
    """
    user = await service.update_user(get_platform(), current_user(), user_id, data.changes())
    return ok(service.admin_user_dict(user), "user updated")


@bp.delete("/<int:user_id>")
@require_role("admin")
@rate_limit("general")
@responds(s.AdminUserOut)
async def delete_user(user_id: int):
    """Delete an account (soft, as DELETE /api/v1/users/account does).

    Errors: 404 (1003) unknown user, 409 already deleted, yourself, or the last active admin.
    """
    user = await service.delete_user(get_platform(), current_user(), user_id)
    return ok(service.admin_user_dict(user), "user deleted")


@bp.post("/<int:user_id>/ban")
@require_role("admin")
@rate_limit("general")
@document_request(s.BanIn)
@responds(s.AdminUserOut)
async def ban_user(user_id: int):
    """Ban a user for `duration` hours (fractions allowed, up to 87600), or until unbanned.

    The body may be left out (a permanent ban without reason). Every session of the user ends
    at once; a timed ban lifts itself when its time has passed. Banning a banned user replaces
    the ban. Errors: 404 (1003) unknown user, 409 deleted user, yourself, last active admin.
    """
    data = await optional_body(s.BanIn)
    user = await service.ban_user(
        get_platform(), current_user(), user_id, data.reason, data.duration
    )
    return ok(service.admin_user_dict(user), "user banned")


@bp.post("/<int:user_id>/unban")
@require_role("admin")
@rate_limit("general")
@responds(s.AdminUserOut)
async def unban_user(user_id: int):
    """Lift a user's ban; they log in again (the ban ended their sessions).

    Errors: 404 (1003) unknown user, 409 not banned or deleted.
    """
    user = await service.unban_user(get_platform(), current_user(), user_id)
    return ok(service.admin_user_dict(user), "user unbanned")
