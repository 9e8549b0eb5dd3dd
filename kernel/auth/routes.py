"""/api/v1/auth: thin handlers over AuthService."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import (
    ApiError,
    current_claims,
    current_user,
    get_platform,
    ok,
    optional_body,
    rate_limit,
    require_auth,
    responds,
    validate_request,
)
from kernel.auth import schemas as s
from kernel.auth.service import public_user
from kernel.errors import iso

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/register")
@rate_limit("auth")
@validate_request(s.RegisterIn)
@responds(s.RegisterOut, 201)
async def register(data: s.RegisterIn):
    """Create an account."""
    platform = get_platform()
    if not platform.settings.get("auth.allow_registration", True):
        raise ApiError(403, "registration is closed on this server; ask an administrator")
    user = await platform.auth.create_user(data.username, data.email, data.password, data.nickname)
    body = public_user(user) | {"created_at": iso(user.created_at)}
    return ok(body, "registered", 201)


@bp.post("/login")
@rate_limit("auth")
@validate_request(s.LoginIn)
@responds(s.LoginOut)
async def login(data: s.LoginIn):
    """Log in with username or email; returns an access token and a refresh token."""
    pair, user = await get_platform().auth.login(data.username, data.password)
    return ok(
        {
            "token": pair.token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
            "user": public_user(user),
        },
        "logged in",
    )


@bp.post("/refresh")
@rate_limit("general")
@validate_request(s.RefreshIn)
@responds(s.TokensOut)
async def refresh(data: s.RefreshIn):
    """Trade a refresh token for new tokens; the old refresh token stops working."""
    pair = await get_platform().auth.refresh(data.refresh_token)
    return ok(vars(pair), "refreshed")


@bp.post("/logout")
@require_auth
@rate_limit("general")
@responds(s.Empty)
async def logout():
    """End this login: its refresh tokens and the access token used for this call."""
    data = await optional_body(s.LogoutIn)
    await get_platform().auth.logout(current_user(), current_claims(), data.refresh_token)
    return ok({}, "logged out")


@bp.post("/forgot-password")
@rate_limit("password_forgot")
@validate_request(s.ForgotPasswordIn)
@responds(s.Empty)
async def forgot_password(data: s.ForgotPasswordIn):
    """Send a reset token to the address if it belongs to an account (same answer either way)."""
    await get_platform().auth.forgot_password(data.email)
    return ok({}, "if the address belongs to an account, a reset token was sent to it")


@bp.post("/reset-password")
@rate_limit("password_reset")
@validate_request(s.ResetPasswordIn)
@responds(s.Empty)
async def reset_password(data: s.ResetPasswordIn):
    """Set a new password with a reset token (single use, expires after an hour)."""
    await get_platform().auth.reset_password(data.token, data.new_password)
    return ok({}, "password reset; log in with the new password")
