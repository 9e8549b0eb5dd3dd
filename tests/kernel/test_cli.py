"""The `platform` command: serve (embedded defaults, TLS, workers), db, user, config."""

from __future__ import annotations

import datetime
import os
import stat

import httpx
import pytest


def login(url: str, username: str, password: str, **kwargs) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}, **kwargs
    )


def test_version(run_cli):
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("meeting-platform ")


def test_embedded_serve_needs_no_configuration(start_server, tmp_path):
    server = start_server()  # no settings at all but a data dir
    data = tmp_path / "data"
    assert (data / "platform.sqlite3").is_file()
    secret = data / "jwt_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text()) >= 64
    # Regression: queries inside requests under hypercorn (tortoise context set in
    # before_serving must be visible to request tasks).
    register = httpx.post(
        f"{server.url}/api/v1/auth/register",
        json={"username": "sam", "email": "sam@example.com", "password": "password-1"},
    )
    assert register.status_code == 201, register.text
    assert login(server.url, "sam", "password-1").status_code == 200
    assert "migration applied: kernel.0001_initial" in server.log.read_text()


def test_secret_survives_restarts(start_server, tmp_path):
    first = start_server()
    httpx.post(
        f"{first.url}/api/v1/auth/register",
        json={"username": "sam", "email": "sam@example.com", "password": "password-1"},
    )
    token = login(first.url, "sam", "password-1").json()["data"]["token"]
    first.stop()
    second = start_server()
    refused = httpx.get(f"{second.url}/-/plugins", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403  # the token still verifies: same secret, not an admin


def test_db_upgrade_and_user_create(run_cli, start_server):
    first = run_cli("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "applied kernel.0001_initial" in first.stdout
    again = run_cli("db", "upgrade")
    assert "database is up to date" in again.stdout

    created = run_cli(
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--admin",
        PLATFORM_USER_PASSWORD="admin-pass-1",
    )
    assert created.returncode == 0, created.stderr
    assert "created admin root" in created.stdout
    duplicate = run_cli(
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "x@example.com",
        PLATFORM_USER_PASSWORD="admin-pass-1",
    )
    assert duplicate.returncode == 1 and "username already exists" in duplicate.stderr

    server = start_server()
    token = login(server.url, "root", "admin-pass-1").json()["data"]["token"]
    plugins = httpx.get(f"{server.url}/-/plugins", headers={"Authorization": f"Bearer {token}"})
    assert plugins.status_code == 200
    loaded = [p["name"] for p in plugins.json()["data"]["plugins"] if p["loaded"]]
    assert loaded == ["kernel"]  # kernel-only environment


def test_config_show_masks_secrets(run_cli, tmp_path):
    config = tmp_path / "prod.toml"
    config.write_text('redis_url = "redis://:hunter2@cache:6379/0"\n[server]\nport = 9100\n')
    result = run_cli(
        "config",
        "show",
        "--config",
        str(config),
        PLATFORM_AUTH__JWT_SECRET="topsecretvalue",
        PLATFORM_DATABASE_URL="postgres://app:pa55word@db:5432/platform",
    )
    assert result.returncode == 0, result.stderr
    assert "topsecretvalue" not in result.stdout
    assert "pa55word" not in result.stdout and "hunter2" not in result.stdout
    assert "postgres://app:********@db:5432/platform" in result.stdout
    assert '"port": 9100' in result.stdout  # the file was read
    missing = run_cli("config", "show", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "settings file not found" in missing.stderr


def test_serve_with_tls(start_server, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    server = start_server(
        wait=False,
        PLATFORM_SERVER__CERTFILE=str(tmp_path / "cert.pem"),
        PLATFORM_SERVER__KEYFILE=str(tmp_path / "key.pem"),
    )
    server.url = server.url.replace("http://", "https://")
    for _ in range(100):
        try:
            response = httpx.get(f"{server.url}/healthz", verify=False, timeout=1)
            break
        except httpx.HTTPError:
            import time

            time.sleep(0.1)
    assert response.status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url.replace("https://", "http://") + "/healthz", timeout=2)


@pytest.mark.skipif(os.cpu_count() == 1, reason="needs two cores")
def test_serve_with_two_workers(start_server):
    server = start_server(PLATFORM_SERVER__WORKERS="2")
    answers = {httpx.get(f"{server.url}/healthz").status_code for _ in range(10)}
    assert answers == {200}


def test_a_worker_with_nothing_to_run_says_so(run_cli) -> None:
    result = run_cli("worker")
    assert result.returncode != 0
    assert "no enabled plugin registers job types" in result.stderr + result.stdout
