"""`/` (the app's page), `/app/<file>` (its script and style) and `/sdk/<file>` (the SDK)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from kernel.api import ApiError
from plugins.webclient import service

bp = Blueprint("webclient", __name__)


def _respond(area: str, name: str) -> Response:
    asset = service.find(area, name)
    if asset is None:
        raise ApiError(404, f"no file {name[:100]!r} in /{area}/")
    if request.if_none_match and asset.etag in request.if_none_match:
        response = Response(b"", status=304)
    else:
        response = Response(asset.body, content_type=asset.content_type)
    response.headers["ETag"] = f'"{asset.etag}"'
    # Revalidate every time (a 304 when unchanged): an upgraded server never serves stale code.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if asset.content_type.startswith("text/html"):
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
async def index() -> Response:
    """The meeting app."""
    return _respond("app", "index.html")


@bp.get("/app/<path:name>")
async def app_file(name: str) -> Response:
    """The app's files (index.html, app.js, app.css)."""
    return _respond("app", name)


@bp.get("/sdk/<path:name>")
async def sdk_file(name: str) -> Response:
    """The JavaScript SDK (meeting-platform.js, an ES module) and its package.json."""
    return _respond("sdk", name)
