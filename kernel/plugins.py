"""Plugin discovery and registration: one PluginManager per app, never a module-level global.

stevedore lists the entry points of the group `meeting_platform.plugins` and imports only the
enabled ones; pluggy registers them and calls their hooks.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from stevedore import ExtensionManager, NamedExtensionManager

from kernel import hookspecs
from kernel.settings import Settings

ENTRY_POINT_GROUP = "meeting_platform.plugins"
log = logging.getLogger("platform.plugins")


class PluginError(RuntimeError):
    """A plugin cannot be loaded; the message is one line naming the plugin and the cause."""


class PluginUnavailable(ImportError):
    """Raised by a plugin at import when an optional dependency is missing.

    The message should say how to get it, e.g. "needs vosk: pip install 'meeting-platform[ai]'".
    """


@dataclass
class PluginInfo:
    name: str
    version: str | None = None
    distribution: str | None = None
    enabled: bool = False
    loaded: bool = False
    builtin: bool = False
    requires: tuple[str, ...] = ()
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "enabled": self.enabled,
            "loaded": self.loaded,
            "builtin": self.builtin,
            "requires": list(self.requires),
            "hooks": self.hooks,
            "error": self.error,
        }


def installed_entry_points() -> list[Any]:
    """Entry points of installed plugins, read from metadata without importing anything."""
    # stevedore caches the list per process; drop it so plugins installed since are seen.
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    return list(NamedExtensionManager(ENTRY_POINT_GROUP, names=[]).list_entry_points())


def _names(value: Any) -> list[str] | str:
    if value in ("*", None):
        return "*"
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


class PluginManager:
    """The plugins of one app: which are installed, which are enabled, and their hooks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- loading -------------------------------------------------------------------------

    def load(self, internal: Iterable[tuple[str, Any]] = (), extra: Iterable[Any] = ()) -> None:
        """Register kernel-internal plugins, then enabled installed ones, then `extra` objects."""
        for name, obj in internal:
            self._register(name, obj, PluginInfo(name=name, builtin=True, enabled=True))
        loaded = self._load_installed()
        for obj in extra:
            name = getattr(obj, "plugin_name", None) or getattr(obj, "__name__", repr(obj))
            loaded[name] = (obj, PluginInfo(name=name, enabled=True))
        self._check_requirements(loaded)
        for name, (obj, info) in loaded.items():
            self._register(name, obj, info)
        self._check_hook_names()

    def _load_installed(self) -> dict[str, tuple[Any, PluginInfo]]:
        skip_broken = bool(self.settings.get("plugins.skip_broken", False))
        enabled = _names(self.settings.get("plugins.enabled", "*"))
        disabled = set(_names(self.settings.get("plugins.disabled", [])) or [])
        entry_points = {ep.name: ep for ep in installed_entry_points()}
        distributions = {
            ep.name: ep.dist for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        }
        for name in entry_points:
            dist = distributions.get(name)
            self.infos[name] = PluginInfo(
                name=name,
                version=dist.version if dist else None,
                distribution=dist.metadata["Name"] if dist else None,
                builtin=bool(dist) and dist.metadata["Name"] == "meeting-platform",
            )
        if enabled == "*":
            wanted = [n for n in entry_points if n not in disabled]
        else:
            missing = [n for n in enabled if n not in entry_points]
            if missing:
                raise PluginError(
                    f"plugin {missing[0]!r} is enabled in plugins.enabled but not installed "
                    f"(installed: {', '.join(sorted(entry_points)) or 'none'})"
                )
            wanted = [n for n in enabled if n not in disabled]

        loaded: dict[str, tuple[Any, PluginInfo]] = {}
        for name in wanted:
            info = self.infos[name]
            info.enabled = True
            try:
                obj = entry_points[name].load()
            except PluginUnavailable as exc:
                info.error = f"unavailable: {exc}"
                if enabled == "*":
                    log.warning("plugin %r skipped: %s", name, exc)
                    continue
                raise PluginError(f"plugin {name!r} cannot load: {exc}") from exc
            except Exception as exc:
                info.error = f"{type(exc).__name__}: {exc}"
                if skip_broken:
                    log.error("plugin %r skipped (plugins.skip_broken): %s", name, info.error)
                    continue
                raise PluginError(f"plugin {name!r} failed to load: {info.error}") from exc
            info.requires = tuple(getattr(obj, "requires", ()) or ())
            loaded[name] = (obj, info)
        return loaded

    def _check_requirements(self, loaded: dict[str, tuple[Any, PluginInfo]]) -> None:
        skip_broken = bool(self.settings.get("plugins.skip_broken", False))
        available = set(loaded) | {name for name, _ in self.pm.list_name_plugin()}
        changed = True
        while changed:  # dropping one plugin may orphan another that requires it
            changed = False
            for name, (_obj, info) in list(loaded.items()):
                missing = [req for req in info.requires if req not in available]
                if not missing:
                    continue
                state = "not installed" if missing[0] not in self.infos else "not enabled"
                info.error = f"requires plugin {missing[0]!r}, which is {state}"
                if not skip_broken:
                    raise PluginError(f"plugin {name!r} {info.error}")
                log.error("plugin %r skipped: %s", name, info.error)
                del loaded[name]
                available.discard(name)
                changed = True

    def _register(self, name: str, obj: Any, info: PluginInfo) -> None:
        extra_specs = getattr(obj, "hookspecs", None)
        if extra_specs is not None:
            self.pm.add_hookspecs(extra_specs)
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from exc
        info.loaded = True
        info.enabled = True
        info.requires = tuple(getattr(obj, "requires", ()) or ())
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(obj) or [])
        self.infos[name] = info

    def _check_hook_names(self) -> None:
        for name, obj in self.pm.list_name_plugin():
            for caller in self.pm.get_hookcallers(obj) or []:
                if caller.spec is None:
                    raise PluginError(
                        f"plugin {name!r} implements unknown hook {caller.name!r} "
                        "(misspelt, or its plugin of hookspecs is not enabled)"
                    )

    # -- calling ---------------------------------------------------------------------------

    def collect(
        self, hook_name: str, check: Callable[..., Any] | None = None, **context: Any
    ) -> list[Any]:
        """Call a `register_*` hook plugin by plugin; return what each registered.

        Each item is `(plugin_name, result_of_check)`; `check(*args, **kwargs)` validates one
        registration and raises ValueError/TypeError with a message; the kernel prefixes the name.
        `context` gives the hook's other arguments (e.g. `settings`).
        """
        registered: list[Any] = []
        caller = getattr(self.pm.hook, hook_name)
        # pluggy calls the last-registered first; reverse so registration order is load order.
        for impl in reversed(caller.get_hookimpls()):
            plugin_name = impl.plugin_name

            def register(*args: Any, _plugin: str = plugin_name, **kwargs: Any) -> None:
                try:
                    value = check(*args, **kwargs) if check else (args, kwargs)
                except (TypeError, ValueError) as exc:
                    raise PluginError(f"plugin {_plugin!r}: {hook_name}: {exc}") from exc
                registered.append((_plugin, value))

            try:
                impl.function(**{arg: context.get(arg, register) for arg in impl.argnames})
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name!r}: {hook_name} failed: {type(exc).__name__}: {exc}"
                ) from exc
        return registered

    def plugin_list(self) -> list[dict[str, Any]]:
        return [info.as_dict() for info in sorted(self.infos.values(), key=lambda i: i.name)]
