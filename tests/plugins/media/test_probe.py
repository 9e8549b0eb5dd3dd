"""probe(): the content decides the type, with real media written by PyAV."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import av
import pytest
from PIL import Image

from plugins.media.probe import MediaInfo, ProbeError, UnsupportedType, probe

MINIMAL_PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj
trailer << /Root 1 0 R >>
%%EOF
"""


@pytest.mark.parametrize(
    ("name", "file_type", "mime_type", "extension", "codec", "audio_codec"),
    [
        ("clip.mp4", "video", "video/mp4", "mp4", "h264", "aac"),
        ("clip.mov", "video", "video/quicktime", "mov", "h264", "aac"),
        ("clip.webm", "video", "video/webm", "webm", "vp8", "opus"),
        ("clip.mkv", "video", "video/x-matroska", "mkv", "h264", "aac"),
        ("clip.mp3", "audio", "audio/mpeg", "mp3", "mp3", "mp3"),
        ("clip.wav", "audio", "audio/wav", "wav", "pcm_s16le", "pcm_s16le"),
        ("clip.ogg", "audio", "audio/ogg", "ogg", "opus", "opus"),
        ("clip.flac", "audio", "audio/flac", "flac", "flac", "flac"),
        ("clip.m4a", "audio", "audio/mp4", "m4a", "aac", "aac"),
    ],
)
def test_media(make_media, name, file_type, mime_type, extension, codec, audio_codec):
    info = probe(make_media(name, seconds=2.0, width=320, height=240, fps=25))
    assert (info.file_type, info.mime_type, info.extension) == (file_type, mime_type, extension)
    assert (info.codec, info.audio_codec) == (codec, audio_codec)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.has_audio and info.sample_rate == 48000 and info.channels == 2
    assert info.bitrate and info.bitrate > 0
    if file_type == "video":
        assert info.has_video and (info.width, info.height) == (320, 240)
        assert info.fps == pytest.approx(25)
    else:
        assert not info.has_video and info.width is None and info.fps is None


def test_the_name_does_not_matter(make_media, tmp_path):
    info = probe(make_media("holiday.txt", container=".mp4", seconds=1.0))
    assert (info.file_type, info.mime_type, info.extension) == ("video", "video/mp4", "mp4")
    Image.new("RGB", (30, 20), "blue").save(tmp_path / "picture.mp4", format="PNG")
    assert probe(str(tmp_path / "picture.mp4")).mime_type == "image/png"


def test_audio_only_mp4_is_audio(make_media):
    info = probe(make_media("voice.mp4", video=False))
    assert (info.file_type, info.mime_type, info.extension) == ("audio", "audio/mp4", "m4a")


def test_details_as_a_dict(make_media):
    info = probe(make_media("clip.webm", seconds=1.0, width=160, height=120))
    assert isinstance(info, MediaInfo)
    data = info.as_dict()
    assert data["width"] == 160 and data["mime_type"] == "video/webm"
    assert set(data) >= {"file_type", "format_name", "duration", "fps", "sample_rate"}


@pytest.mark.parametrize(
    ("pillow_format", "suffix", "mime_type", "extension", "codec"),
    [
        ("PNG", "png", "image/png", "png", "png"),
        ("JPEG", "jpg", "image/jpeg", "jpg", "mjpeg"),
        ("GIF", "gif", "image/gif", "gif", "gif"),
        ("WEBP", "webp", "image/webp", "webp", "webp"),
    ],
)
def test_images(tmp_path, pillow_format, suffix, mime_type, extension, codec):
    path = tmp_path / f"image.{suffix}"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, format=pillow_format)
    info = probe(path)
    assert (info.file_type, info.mime_type, info.extension) == ("image", mime_type, extension)
    assert (info.width, info.height, info.codec) == (64, 48, codec)
    assert info.duration is None and not info.has_audio and not info.has_video


def _zip(path: Path, entries: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return path


def test_documents(tmp_path):
    (tmp_path / "a.bin").write_bytes(MINIMAL_PDF)
    assert probe(tmp_path / "a.bin") == MediaInfo("document", "application/pdf", "pdf", "pdf")

    docx = _zip(tmp_path / "a.zip", {"[Content_Types].xml": "<Types/>", "word/document.xml": ""})
    info = probe(docx)
    assert (info.file_type, info.extension) == ("document", "docx")
    assert info.mime_type.endswith("wordprocessingml.document")
    xlsx = _zip(tmp_path / "b.docx", {"[Content_Types].xml": "<Types/>", "xl/workbook.xml": ""})
    assert probe(xlsx).extension == "xlsx"
    odt = _zip(tmp_path / "c", {"mimetype": "application/vnd.oasis.opendocument.text"})
    assert (probe(odt).extension, probe(odt).mime_type) == (
        "odt",
        "application/vnd.oasis.opendocument.text",
    )

    (tmp_path / "notes.mp3").write_text("Grüße,\nthe minutes of the meeting.\n", encoding="utf-8")
    info = probe(tmp_path / "notes.mp3")
    assert (info.file_type, info.mime_type, info.extension) == ("document", "text/plain", "txt")

    (tmp_path / "old.doc").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    assert probe(tmp_path / "old.doc").mime_type == "application/msword"


def test_a_plain_zip_is_unsupported(tmp_path):
    with pytest.raises(UnsupportedType, match="ZIP"):
        probe(_zip(tmp_path / "a.docx", {"photo.txt": "x"}))


def test_random_bytes_and_empty_files_are_unsupported(tmp_path):
    rng = random.Random(7)
    for size in (16, 4096, 100_000):
        (tmp_path / "random.mp4").write_bytes(rng.randbytes(size))
        with pytest.raises(UnsupportedType, match="unsupported file type"):
            probe(tmp_path / "random.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UnsupportedType, match="the file is empty"):
        probe(tmp_path / "empty.mp4")
    with pytest.raises(ProbeError, match="cannot be read"):
        probe(tmp_path / "missing.mp4")


def test_a_truncated_mp4_is_damaged_not_unsupported(make_media, tmp_path):
    data = make_media("clip.mp4").read_bytes()  # the default muxing puts the moov atom last
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 3 // 10])
    with pytest.raises(ProbeError, match="damaged or truncated: moov atom not found") as caught:
        probe(tmp_path / "cut.mp4")
    assert not isinstance(caught.value, UnsupportedType)


def test_a_valid_header_with_garbage_after_it_is_damaged(tmp_path):
    Image.new("RGB", (64, 48), "red").save(tmp_path / "a.png")
    head = (tmp_path / "a.png").read_bytes()[:33]  # signature and IHDR
    (tmp_path / "b.png").write_bytes(head + random.Random(1).randbytes(2000))
    with pytest.raises(ProbeError, match="damaged or truncated") as caught:
        probe(tmp_path / "b.png")
    assert not isinstance(caught.value, UnsupportedType)


def test_a_truncated_faststart_mp4_never_crashes(make_media, tmp_path):
    source = make_media("clip.mp4")
    faststart = tmp_path / "fast.mp4"
    options = {"movflags": "faststart"}
    with av.open(str(source)) as src, av.open(str(faststart), "w", options=options) as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    data = faststart.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    for cut in (64, 1000, len(data) // 10, len(data) // 2):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        try:
            info = probe(tmp_path / "cut.mp4")
        except ProbeError:
            continue
        assert info.mime_type == "video/mp4"
