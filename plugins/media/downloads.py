"""Download responses of media files: ranges, validators, the original name."""

from __future__ import annotations

from urllib.parse import quote

from quart import Response, request
from werkzeug.http import parse_range_header, quote_etag, unquote_etag

from kernel.api import ApiError, get_platform
from plugins.media.models import MediaFile


def _content_disposition(name: str) -> str:
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


async def response(file: MediaFile) -> Response:
    """The file's bytes for this request: `Range` (206), `ETag`/`If-None-Match` (304)."""
    etag = f"m{file.id}-{file.size}"  # files never change: id and size are enough
    headers = {
        "ETag": quote_etag(etag),
        "Accept-Ranges": "bytes",
        "Content-Type": file.mime_type,
        "Content-Disposition": _content_disposition(file.file_name),
        "Cache-Control": "private, max-age=3600",
    }
    if etag in _etags(request.headers.get("If-None-Match")):
        return Response(b"", 304, headers)
    start, end, status = 0, file.size - 1, 200
    ranges = parse_range_header(request.headers.get("Range"))
    if_range = request.headers.get("If-Range")
    if ranges and (if_range is None or unquote_etag(if_range)[0] == etag):
        if ranges.units != "bytes" or len(ranges.ranges) != 1:
            ranges = None  # several ranges at once: answer the whole file (RFC 9110 allows it)
        else:
            span = ranges.range_for_length(file.size)
            if span is None:
                raise ApiError(
                    416,
                    f"Range: outside the file's {file.size} bytes",
                    headers={"Content-Range": f"bytes */{file.size}"},
                )
            start, end, status = span[0], span[1] - 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    headers["Content-Length"] = str(end - start + 1)
    body = get_platform().storage.read(file.storage_key, start, end) if file.size else []
    return Response(body, status, headers)


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {unquote_etag(tag.strip())[0] for tag in header.split(",")} | (
        {"*"} if header.strip() == "*" else set()
    )
