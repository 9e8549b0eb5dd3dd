"""Avatars (9): decoding decides, resized copies without metadata, serving, cleanup."""

from __future__ import annotations

import io
import re
import struct
import threading
import zlib

import pytest
from PIL import Image, PngImagePlugin

from kernel.api import ApiError, User
from plugins.users import service

from .conftest import PROFILE, UPLOAD, image_bytes, signed_in, upload

AVATAR_URL = re.compile(r"^http://localhost/api/v1/users/avatars/[0-9a-f]{32}\.(webp|png)$")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds almost no data (a 'bomb' header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def files_in(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def fetch(client, url: str):
    return await client.get(url.removeprefix("http://localhost"))


async def test_upload_serve_and_replace(users_client, recorder, avatars):
    me = await signed_in(users_client, "alice")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location")
    response = await users_client.post(
        UPLOAD,
        headers=me["headers"],
        files=upload(
            image_bytes((800, 400), pnginfo=info), content_type="application/octet-stream"
        ),
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    url = body["data"]["avatar_url"]
    assert AVATAR_URL.match(url), url
    assert recorder.named("user.updated") == [{"user_id": me["user_id"], "changed": ["avatar_url"]}]
    profile = await users_client.get(PROFILE, headers=me["headers"])
    assert (await profile.get_json())["data"]["avatar_url"] == url
    name = url.rsplit("/", 1)[1]
    assert files_in(avatars) == [name]  # no temporary file left behind

    served = await fetch(users_client, url)  # public: no token
    assert served.status_code == 200
    extension = name.rsplit(".", 1)[1]
    assert served.headers["Content-Type"] == f"image/{extension}"
    assert "immutable" in served.headers["Cache-Control"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    picture = Image.open(io.BytesIO(await served.get_data()))
    picture.load()
    assert picture.format == extension.upper()
    assert picture.size == (256, 128)  # fits 256x256, aspect kept
    assert "Comment" not in picture.info and "exif" not in picture.info
    assert picture.getpixel((128, 64))[:3] == pytest.approx((255, 0, 0), abs=8)

    # A second upload replaces the file; the old URL is gone.
    response = await users_client.post(
        UPLOAD, headers=me["headers"], files=upload(image_bytes((50, 100), "JPEG"))
    )
    second = (await response.get_json())["data"]["avatar_url"]
    assert second != url
    assert files_in(avatars) == [second.rsplit("/", 1)[1]]
    missing = await fetch(users_client, url)
    assert missing.status_code == 404
    assert (await missing.get_json())["message"] == "avatar not found"
    small = Image.open(io.BytesIO(await (await fetch(users_client, second)).get_data()))
    assert small.size == (50, 100)  # small images are not blown up


async def test_profile_echo_keeps_the_avatar_and_an_external_url_removes_it(sqlite_client, avatars):
    me = await signed_in(sqlite_client, "alice")
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(image_bytes()))
    url = (await response.get_json())["data"]["avatar_url"]

    # A client sending the whole profile back (the absolute URL) keeps the uploaded file.
    response = await sqlite_client.put(
        PROFILE, headers=me["headers"], json={"nickname": "Al", "avatar_url": url}
    )
    assert (await response.get_json())["data"]["avatar_url"] == url
    assert len(files_in(avatars)) == 1

    response = await sqlite_client.put(
        PROFILE, headers=me["headers"], json={"avatar_url": "https://cdn.example.com/a.png"}
    )
    assert response.status_code == 200
    assert files_in(avatars) == []
    assert (await fetch(sqlite_client, url)).status_code == 404


async def test_exif_orientation_is_applied_and_stripped(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    exif[0x010F] = "SpyCam"  # camera make
    data = image_bytes((300, 100), "JPEG", exif=exif.tobytes())
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(data))
    url = (await response.get_json())["data"]["avatar_url"]
    picture = Image.open(io.BytesIO(await (await fetch(sqlite_client, url)).get_data()))
    assert picture.size == (85, 256)  # upright: portrait
    assert not picture.getexif()


async def test_transparency_survives(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    data = image_bytes((40, 40), "PNG", mode="RGBA", color=(0, 0, 255, 0))
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(data))
    url = (await response.get_json())["data"]["avatar_url"]
    picture = Image.open(io.BytesIO(await (await fetch(sqlite_client, url)).get_data()))
    assert picture.convert("RGBA").getpixel((20, 20))[3] == 0


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text, not a picture\n" * 10, "avatar.png", "image/png"),
        (b"", "empty.png", "image/png"),
        (image_bytes((20, 20))[:60], "truncated.png", "image/png"),
        (image_bytes((20, 20), "TIFF"), "avatar.tiff", "image/tiff"),  # decodable, not accepted
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "a.eps", "image/png"),
    ],
)
async def test_not_an_image_is_415_and_changes_nothing(
    sqlite_client, recorder, avatars, data, filename, content_type
):
    me = await signed_in(sqlite_client, "alice")
    response = await sqlite_client.post(
        UPLOAD, headers=me["headers"], files=upload(data, filename, content_type)
    )
    body = await response.get_json()
    assert response.status_code == 415, body
    assert "not an image" in body["message"] and "PNG" in body["message"]
    assert files_in(avatars) == []
    assert (await User.get(id=me["user_id"])).avatar_url is None
    assert recorder.named("user.updated") == []


@pytest.mark.parametrize("size", [5 * 1024 * 1024 + 1, 6 * 1024 * 1024])
async def test_over_5_mb_is_413(sqlite_client, avatars, size):
    me = await signed_in(sqlite_client, "alice")
    # A valid PNG padded past the limit: the size alone decides.
    data = image_bytes((16, 16))
    data += b"\x00" * (size - len(data))
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(data))
    body = await response.get_json()
    assert response.status_code == 413, body
    assert "5 MB" in body["message"]
    assert files_in(avatars) == []
    assert (await User.get(id=me["user_id"])).avatar_url is None


@pytest.mark.parametrize(
    "dimensions",
    [
        (7000, 7000),  # 49 megapixels: over this plugin's limit
        (100_000, 100_000),  # over Pillow's own decompression-bomb limit
    ],
)
async def test_decompression_bombs_are_refused(sqlite_client, avatars, dimensions):
    me = await signed_in(sqlite_client, "alice")
    data = png_header_only(*dimensions)
    assert len(data) < 200
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(data))
    body = await response.get_json()
    assert response.status_code == 413, body
    assert "pixels" in body["message"]
    assert files_in(avatars) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"form": {"avatar": "x"}},
        {"files": {}},
        {"json": {"file": "aGVsbG8="}},
        {"data": b""},
    ],
)
async def test_missing_file_field_is_422(sqlite_client, kwargs):
    me = await signed_in(sqlite_client, "alice")
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], **kwargs)
    body = await response.get_json()
    assert response.status_code == 422, body
    assert body["message"].startswith("file:")


async def test_a_text_field_named_file_is_422(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], form={"file": "hello"})
    assert response.status_code == 422
    assert (await response.get_json())["message"].startswith("file:")


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fjwt_secret",
        "..%2Fplatform.sqlite3",
        "%2E%2E",
        "jwt_secret",
        "0123456789abcdef0123456789abcdef.webp",  # well-formed, not stored
        "0123456789abcdef0123456789abcdef.svg",
        "0123456789ABCDEF0123456789ABCDEF.png",
        ".upload-abc.tmp",
    ],
)
async def test_avatar_names_are_checked(sqlite_client, tmp_path, name):
    me = await signed_in(sqlite_client, "alice")
    await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(image_bytes()))
    assert (tmp_path / "data" / "jwt_secret").exists()  # something worth stealing is there
    (tmp_path / "data" / "avatars" / ".upload-abc.tmp").write_bytes(b"partial")
    response = await sqlite_client.get(f"/api/v1/users/avatars/{name}")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["code"] == 404 and "request_id" in body


async def test_a_failed_database_update_removes_the_new_file(
    sqlite_client, recorder, avatars, monkeypatch
):
    me = await signed_in(sqlite_client, "alice")
    original_save = User.save

    async def failing_save(self, *args, **kwargs):
        if "avatar_url" in (kwargs.get("update_fields") or ()):
            raise RuntimeError("database went away")
        return await original_save(self, *args, **kwargs)

    monkeypatch.setattr(User, "save", failing_save)
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(image_bytes()))
    assert response.status_code == 500
    monkeypatch.undo()
    assert files_in(avatars) == []
    assert (await User.get(id=me["user_id"])).avatar_url is None
    assert recorder.named("user.updated") == []


async def test_set_avatar_for_a_vanished_user_leaves_no_file(sqlite_client, avatars):
    me = await signed_in(sqlite_client, "alice")
    user = await User.get(id=me["user_id"])
    await User.filter(id=user.id).delete()
    platform = sqlite_client.app.extensions["platform"]
    async with sqlite_client.app.app_context():
        with pytest.raises(ApiError) as caught:
            await service.set_avatar(platform, user, image_bytes())
    assert caught.value.status == 404 and caught.value.code == 1003
    assert files_in(avatars) == []


async def test_images_are_decoded_off_the_event_loop(sqlite_client, monkeypatch):
    me = await signed_in(sqlite_client, "alice")
    threads = []
    render = service.render_avatar

    def spy(data):
        threads.append(threading.current_thread())
        return render(data)

    monkeypatch.setattr(service, "render_avatar", spy)
    response = await sqlite_client.post(UPLOAD, headers=me["headers"], files=upload(image_bytes()))
    assert response.status_code == 200
    assert threads and threads[0] is not threading.main_thread()
