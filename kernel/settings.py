"""Configuration: config/settings.toml defaults, then a settings file, then PLATFORM_* variables."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config" / "settings.toml"
SECRET_MARKERS = ("secret", "password", "token", "private_key")

Settings = Dynaconf


def load_settings(
    overrides: Mapping[str, Any] | None = None, config_file: str | os.PathLike | None = None
) -> Settings:
    """Build the settings of one app: defaults, settings files, environment, then `overrides`."""
    files = [str(DEFAULTS_FILE)]
    extra = os.environ.get("PLATFORM_SETTINGS_FILES", "")
    files += [f for f in extra.split(",") if f.strip()]
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"settings file not found: {path}")
        files.append(str(path))
    settings = Dynaconf(
        envvar_prefix="PLATFORM",
        settings_files=files,
        environments=False,
        merge_enabled=True,
    )
    for dotted, value in _leaves(overrides or {}):
        settings.set(dotted, value, merge=False)
    return settings


def _leaves(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested overrides to dotted keys: tables merge, lists and scalars replace."""
    leaves: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            leaves += _leaves(value, f"{prefix}{key}.")
        else:
            leaves.append((f"{prefix}{key}", value))
    return leaves


def data_dir(settings: Settings) -> Path:
    """The data directory, created on first use."""
    path = Path(settings.get("data_dir") or "./data").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def node_name(settings: Settings) -> str:
    return settings.get("node_name") or f"{socket.gethostname()}-{os.getpid()}"


def jwt_secret(settings: Settings) -> str:
    """The configured HMAC secret, or one generated on first run and kept in the data dir."""
    configured = settings.get("auth.jwt_secret")
    if configured:
        return str(configured)
    path = data_dir(settings) / "jwt_secret"
    if not path.exists():
        # O_EXCL: two workers starting at once must not write two different secrets.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


def masked(settings: Settings) -> dict[str, Any]:
    """All settings as a plain dict with secrets and URL passwords hidden (for `config show`)."""

    def mask(key: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: mask(k, v) for k, v in value.items()}
        if isinstance(value, str) and value:
            if any(marker in key.lower() for marker in SECRET_MARKERS):
                return "********"
            if "://" in value and "@" in value:
                scheme, rest = value.split("://", 1)
                credentials, host = rest.rsplit("@", 1)
                user = credentials.split(":", 1)[0]
                return f"{scheme}://{user}:********@{host}" if ":" in credentials else value
        return value

    raw = settings.as_dict()
    return {key.lower(): mask(key, value) for key, value in raw.items()}
