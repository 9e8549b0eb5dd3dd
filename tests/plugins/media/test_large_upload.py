"""A 1 GiB upload to a real server: streamed to disk, the server's memory stays flat."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx

GIB = 1024**3
CHUNK = b"meeting notes, line after line\n" * 33825  # ~1 MiB of plain text


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def login(base: str) -> dict[str, str]:
    account = {"username": "uploader", "email": "up@example.com", "password": "secret-pass"}
    assert httpx.post(f"{base}/api/v1/auth/register", json=account).status_code == 201
    credentials = {"username": account["username"], "password": account["password"]}
    answer = httpx.post(f"{base}/api/v1/auth/login", json=credentials).json()
    return {"Authorization": f"Bearer {answer['data']['token']}"}


def test_a_one_gib_upload_keeps_the_server_memory_flat(start_server: Any, tmp_path: Path) -> None:
    server = start_server(PLATFORM_PLUGINS__ENABLED='["users", "meetings", "media"]')
    headers = login(server.url)
    before = peak_rss_kib(server.proc.pid)
    chunks = GIB // len(CHUNK) + 1
    boundary = "x7boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def body() -> Any:
        yield head
        for _ in range(chunks):
            yield CHUNK
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{server.url}/api/v1/media/upload",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
        timeout=300,
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["size"] == chunks * len(CHUNK) > GIB
    growth_mib = (peak_rss_kib(server.proc.pid) - before) / 1024
    assert growth_mib < 64, f"server peak memory grew by {growth_mib:.0f} MiB during the upload"
    stored = [p for p in (tmp_path / "data" / "media").rglob("*") if p.is_file()]
    assert [p.stat().st_size for p in stored] == [data["size"]]
    deleted = httpx.delete(f"{server.url}/api/v1/media/{data['file_id']}", headers=headers)
    assert deleted.status_code == 200


def test_an_upload_cut_off_midway_leaves_nothing(start_server: Any, tmp_path: Path) -> None:
    server = start_server(PLATFORM_PLUGINS__ENABLED='["users", "meetings", "media"]')
    headers = login(server.url)
    boundary = "cutboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.txt"\r\n\r\n'
    ).encode()
    request = (
        f"POST /api/v1/media/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request + head)
        for _ in range(8):
            sock.sendall(CHUNK)  # 8 MiB of the promised 50, then the client is gone
    media = tmp_path / "data" / "media"
    for _ in range(600):  # the server notices the disconnect and cleans up (slow CI: 30 s)
        if not [p for p in media.rglob("*") if p.is_file()]:
            break
        time.sleep(0.05)
    assert [p for p in media.rglob("*") if p.is_file()] == []
    listed = httpx.get(f"{server.url}/api/v1/media", headers=headers).json()["data"]
    assert listed["total"] == 0
