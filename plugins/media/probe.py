"""What an uploaded file is, decided by its content (never its name), with PyAV for media.

Pure functions: no asyncio, no Quart, no database. `probe()` raises `UnsupportedType` for
content that is not a known document or media format, and `ProbeError` for a recognisable
media file that FFmpeg cannot read (damaged, truncated, or without a decodable stream).
"""

from __future__ import annotations

import codecs
import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import av.logging

HEAD_SIZE = 64 * 1024  # how much of the file the document and text checks read

# FFmpeg demuxers of still (or animated) images; the codec names the exact type.
IMAGE_DEMUXERS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif"}
IMAGE_CODECS = {
    "png": ("image/png", "png"),
    "mjpeg": ("image/jpeg", "jpg"),
    "gif": ("image/gif", "gif"),
    "webp": ("image/webp", "webp"),
    "bmp": ("image/bmp", "bmp"),
    "tiff": ("image/tiff", "tiff"),
}
WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}
# Bytes of text (as file(1) sees it): printable, whitespace, backspace, bell, escape, UTF-8.
TEXT_BYTES = bytes({7, 8, 9, 10, 12, 13, 27} | set(range(0x20, 0x100)) - {0x7F})

# Starts of media files: content like this that FFmpeg cannot open is damaged, not unknown.
MEDIA_SIGNATURES = (
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM
    b"OggS",
    b"fLaC",
    b"ID3",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF
    b"MM\x00*",
)

ODF_TYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
OOXML_TYPES = {
    "word/": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "xl/": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "ppt/": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
}


class ProbeError(ValueError):
    """The file looks like a supported type but cannot be read; the message says why."""


class UnsupportedType(ProbeError):
    """The content is not a document or media format this platform accepts."""


@dataclass(frozen=True)
class MediaInfo:
    file_type: str  # "video" | "audio" | "image" | "document"
    mime_type: str
    format_name: str  # FFmpeg demuxer name, or e.g. "pdf" for documents
    extension: str  # canonical, without the dot
    duration: float | None = None  # seconds
    width: int | None = None
    height: int | None = None
    codec: str | None = None  # the video codec, or the audio codec of an audio file
    audio_codec: str | None = None
    bitrate: int | None = None  # bit/s
    has_video: bool = False
    has_audio: bool = False
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: str | Path) -> MediaInfo:
    """Describe the file at `path`; raise ProbeError (or UnsupportedType) if it can't be used."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_SIZE)
    except OSError as exc:
        raise ProbeError(f"the file cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise UnsupportedType("unsupported file type: the file is empty")
    return _document(path, head) or _media(path, head)


def _doc(mime_type: str, extension: str) -> MediaInfo:
    return MediaInfo("document", mime_type, extension, extension)


def _document(path: Path, head: bytes) -> MediaInfo | None:
    if head.startswith(b"%PDF-"):
        return _doc("application/pdf", "pdf")
    if head.startswith(b"PK\x03\x04"):
        return _zip_document(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE: legacy Office (.doc family)
        return _doc("application/msword", "doc")
    if head.startswith(b"{\\rtf"):
        return _doc("application/rtf", "rtf")
    if not head.translate(None, TEXT_BYTES):
        try:  # an incremental decoder accepts a character cut at the end of the head
            codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < HEAD_SIZE)
        except UnicodeDecodeError:
            return None
        return _doc("text/plain", "txt")
    return None


def _zip_document(path: Path) -> MediaInfo:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                mime_type = archive.read("mimetype").decode("ascii", "replace").strip()
                if mime_type in ODF_TYPES:
                    return _doc(mime_type, ODF_TYPES[mime_type])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ProbeError(f"the file is damaged or truncated: {exc}") from exc
    if "[Content_Types].xml" in names:
        for prefix, (mime_type, extension) in OOXML_TYPES.items():
            if any(name.startswith(prefix) for name in names):
                return _doc(mime_type, extension)
    raise UnsupportedType("unsupported file type: a ZIP archive that is not an office document")


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[None]:
    """Turn FFmpeg errors into ProbeError, with FFmpeg's own reason ("moov atom not found")."""
    level, skip_repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)  # FFmpeg logs its reasons only when logging is on
    av.logging.set_skip_repeated(False)  # else a reason seen before goes missing
    try:
        with av.logging.Capture() as logs:
            yield
    except av.FFmpegError as exc:
        reasons = [message.strip() for lvl, _, message in logs if lvl <= av.logging.ERROR]
        reason = reasons[-1] if reasons else exc.strerror or str(exc)
        raise ProbeError(f"the file is damaged or truncated: {reason}") from exc
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip_repeated)


def _looks_like_media(head: bytes) -> bool:
    if head[4:8] == b"ftyp" or head.startswith(MEDIA_SIGNATURES):
        return True
    return head.startswith(b"RIFF") and head[8:12] in (b"WAVE", b"AVI ", b"WEBP")


def _plausible(format_name: str, head: bytes) -> bool:
    """Formats without a magic number need a frame sync at the start, not a lucky guess."""
    if format_name in ("mp3", "aac"):
        return head.startswith(b"ID3") or (head[0] == 0xFF and head[1:2] >= b"\xe0")
    if format_name == "mpegts":
        return head[:1] == b"\x47" or head[4:5] == b"\x47"
    return True


def _media(path: Path, head: bytes) -> MediaInfo:
    unsupported = UnsupportedType(
        "unsupported file type: the content is not a known document, image, audio or video"
    )
    # A file object, not the path: FFmpeg then guesses from the content only, never the name.
    with path.open("rb") as file:
        try:
            with _ffmpeg_errors():
                container = av.open(file)
        except ProbeError:
            if _looks_like_media(head):
                raise
            raise unsupported from None
        with container, _ffmpeg_errors():
            return _describe(container, head, unsupported)


def _describe(container: Any, head: bytes, unsupported: UnsupportedType) -> MediaInfo:
    format_name: str = container.format.name
    if not _plausible(format_name, head):
        raise unsupported
    video = next(
        (
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic  # cover art
        ),
        None,
    )
    audio = next(iter(container.streams.audio), None)
    main = video or audio
    if main is None:
        raise ProbeError("the file has no audio or video stream")
    if any(s.codec_context is None for s in (video, audio) if s):
        raise ProbeError("the file uses a codec this server cannot decode")
    vcodec = video.codec_context.codec.canonical_name if video else None
    acodec = audio.codec_context.codec.canonical_name if audio else None

    if video and format_name in IMAGE_DEMUXERS:
        if vcodec not in IMAGE_CODECS:
            raise unsupported
        mime_type, extension = IMAGE_CODECS[vcodec]
        file_type = "image"
    else:
        mime_type, extension = _container_type(format_name, head, vcodec, acodec, video is not None)
        file_type = "video" if video else "audio"

    if next(iter(container.decode(main)), None) is None:
        raise ProbeError(f"the file is damaged or truncated: no decodable {main.type} frame")

    duration = None
    if container.duration and container.duration > 0:
        duration = container.duration / av.time_base
    elif main.duration and main.time_base:
        duration = float(main.duration * main.time_base)
    rate = (video.average_rate or video.guessed_rate) if video else None
    return MediaInfo(
        file_type=file_type,
        mime_type=mime_type,
        format_name=format_name,
        extension=extension,
        duration=None if file_type == "image" and (duration or 0) <= 0.1 else duration,
        width=video.codec_context.width if video else None,
        height=video.codec_context.height if video else None,
        codec=vcodec or acodec,
        audio_codec=acodec,
        bitrate=container.bit_rate or None,
        has_video=file_type == "video",
        has_audio=audio is not None,
        fps=float(rate) if rate and file_type == "video" else None,
        sample_rate=audio.codec_context.sample_rate if audio else None,
        channels=audio.codec_context.channels if audio else None,
    )


def _container_type(
    format_name: str, head: bytes, vcodec: str | None, acodec: str | None, has_video: bool
) -> tuple[str, str]:
    """(mime type, extension) of an audio or video container."""
    kind = "video" if has_video else "audio"
    if format_name.startswith("mov,mp4"):
        if head[8:12] == b"qt  ":
            return "video/quicktime", "mov"
        return ("video/mp4", "mp4") if has_video else ("audio/mp4", "m4a")
    if format_name == "matroska,webm":
        if {vcodec, acodec} - {None} <= WEBM_CODECS:
            return f"{kind}/webm", "webm"
        return f"{kind}/x-matroska", "mkv" if has_video else "mka"
    if format_name == "ogg":
        return f"{kind}/ogg", "ogv" if has_video else "ogg"
    simple = {
        "mp3": ("audio/mpeg", "mp3"),
        "wav": ("audio/wav", "wav"),
        "flac": ("audio/flac", "flac"),
        "aac": ("audio/aac", "aac"),
        "avi": ("video/x-msvideo", "avi"),
        "mpegts": ("video/mp2t", "ts"),
    }
    if format_name in simple:
        return simple[format_name]
    raise UnsupportedType(f"unsupported file type: {format_name} media")
