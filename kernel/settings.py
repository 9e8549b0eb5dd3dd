"""Configuration: config/settings.toml defaults, then a settings file, then PLATFORM_* variables."""

from __future__ import annotations

import os
import secrets
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf
from dynaconf.utils.parse_conf import parse_conf_data

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config" / "settings.toml"
ENV_PREFIX = "PLATFORM_"
SECRET_MARKERS = ("secret", "password", "token", "private_key")

Settings = Dynaconf


def load_settings(
    overrides: Mapping[str, Any] | None = None, config_file: str | os.PathLike | None = None
) -> Settings:
    """Build the settings of one app, each layer over the one before.

    config/settings.toml, then settings files (PLATFORM_SETTINGS_FILES, comma-separated, then
    `config_file`), then PLATFORM_* environment variables (nested keys joined by "__", values
    parsed as TOML), then `overrides`. Tables merge key by key; any other value, lists
    included, replaces the one below.
    """
    files = [f.strip() for f in os.environ.get("PLATFORM_SETTINGS_FILES", "").split(",")]
    files = [f for f in files if f] + ([str(config_file)] if config_file else [])
    # Dynaconf reads only the defaults; the layers above are applied here so that lists
    # replace instead of concatenating (dynaconf's merge appends them).
    settings = Dynaconf(settings_files=[str(DEFAULTS_FILE)], environments=False, loaders=[])
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"settings file not found: {path}")
        with path.open("rb") as handle:
            try:
                layer = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"settings file {path}: {exc}") from exc
        _apply(settings, layer)
    _apply(settings, _environment())
    _apply(settings, overrides or {})
    return settings


def _environment() -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name == "PLATFORM_SETTINGS_FILES":
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        table = layer
        for key in keys[:-1]:
            table = table.setdefault(key, {})
        table[keys[-1]] = parse_conf_data(raw, tomlfy=True)
    return layer


def _apply(settings: Settings, layer: Mapping[str, Any], prefix: str = "") -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and value:
            _apply(settings, value, f"{prefix}{key}.")
        else:
            settings.set(f"{prefix}{key}", value, merge=False)


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
