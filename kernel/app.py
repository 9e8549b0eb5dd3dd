"""The app factory: settings, plugins, blueprints, errors, request ids, CORS, OpenAPI, lifecycle."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from quart import Quart, Response, g, request
from quart_schema import QuartSchema

from kernel import __version__, bodies, builtin, db, inputs, schemas, websockets
from kernel.auth.service import AuthService
from kernel.auth.tokens import TokenService
from kernel.errors import install_error_handlers, request_id
from kernel.events import EventBus
from kernel.jobs import JobService
from kernel.plugins import PluginError, PluginManager
from kernel.ratelimit import RateLimiter
from kernel.settings import Settings, load_settings, node_name
from kernel.storage import Storage

log = logging.getLogger("platform")
EXPOSED_HEADERS = (
    "X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)


class Platform:
    """What one app's plugins share: settings, plugins, events, limits, tokens, accounts."""

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        self.node = node_name(settings)
        # "server" (`platform serve`) or "worker" (`platform worker`, set by the CLI): plugins
        # that hand work to worker nodes (media bots) ask which one they run in.
        self.role = "server"
        self.tokens = TokenService(settings)
        self.events = EventBus(plugins.hook, self.node, settings.get("redis_url"))
        self.ratelimiter = RateLimiter(settings)
        self.auth = AuthService(self.tokens, settings, self.events, plugins.hook)
        self.storage: Storage = plugins.hook.storage_backend(settings=settings)
        if not isinstance(self.storage, Storage):
            raise PluginError(f"storage_backend answered {self.storage!r}, not a Storage")
        self.jobs = JobService(settings, self.events, self.storage, self.node)
        self.models: list[db.ModelModule] = []

    @property
    def db_config(self) -> dict[str, Any]:
        return db.tortoise_config(self.settings, self.models)


def _not_a_plugin_error(record: logging.LogRecord) -> bool:
    """Quart logs startup failures with a traceback; a PluginError already says it in a line."""
    return not (record.exc_info and isinstance(record.exc_info[1], PluginError))


def configure_logging(settings: Settings) -> None:
    level = str(settings.get("log_level", "INFO")).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("platform").setLevel(level)
    # tortoise says "Tortoise-ORM shutdown" at every migration run: noise for operators.
    logging.getLogger("tortoise").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    quart_logger = logging.getLogger("meeting_platform")
    if _not_a_plugin_error not in quart_logger.filters:
        quart_logger.addFilter(_not_a_plugin_error)


def build_platform(
    settings: Settings | Mapping[str, Any] | None = None, plugins: Iterable[Any] = ()
) -> Platform:
    """Settings and plugins without the web app (the CLI's `db upgrade` and `user create`)."""
    if not isinstance(settings, Settings):
        settings = load_settings(settings)
    manager = PluginManager(settings)
    manager.load(internal=[("kernel", builtin)], extra=plugins)
    platform = Platform(settings, manager)

    def model_module(
        models: str, migrations: str | None = None, label: str | None = None
    ) -> tuple[str, str | None, str | None]:
        if not isinstance(models, str):
            raise TypeError("models must be a dotted module path")
        return models, migrations, label

    for plugin_name, (models, migrations, label) in manager.collect(
        "register_models", model_module
    ):
        label = label or plugin_name.replace("-", "_")
        platform.models.append(db.ModelModule(label, models, migrations))

    for plugin_name, (name, limit) in manager.collect(
        "register_rate_limits", lambda name, limit: (str(name), str(limit))
    ):
        platform.ratelimiter.add_class(name, limit)
        log.debug("rate-limit class %s=%s from plugin %s", name, limit, plugin_name)

    for plugin_name, spec in manager.collect(
        "register_ai_models", platform.jobs.add_model, settings=settings
    ):
        log.debug("AI model %s from plugin %s", spec.model_id, plugin_name)
    for plugin_name, job_type in manager.collect(
        "register_job_types", platform.jobs.add_type, settings=settings
    ):
        log.debug("job type %s from plugin %s", job_type.kind, plugin_name)
    return platform


def create_app(
    settings: Settings | Mapping[str, Any] | None = None, plugins: Iterable[Any] | None = None
) -> Quart:
    """Build the platform app.

    `settings`: a Settings object, or a mapping of overrides on top of the configured settings.
    `plugins`: extra plugin objects (modules or instances with hookimpls) to register after the
    installed plugins that configuration enables.
    """
    platform = build_platform(settings, plugins or ())
    settings = platform.settings
    configure_logging(settings)

    app = Quart("meeting_platform")
    app.request_class = inputs.PlatformRequest
    app.url_map.converters["int"] = inputs.IdConverter
    app.config["MAX_CONTENT_LENGTH"] = int(settings.get("max_body_size", 16 * 1024 * 1024))
    app.extensions["platform"] = platform
    QuartSchema(
        app,
        info={"title": "meeting-platform API", "version": __version__},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=schemas.PlatformOpenAPI,
    )
    app.json.sort_keys = False  # envelope fields in contract order (after QuartSchema's provider)
    install_error_handlers(app)
    bodies.install(app)

    def check_blueprint(blueprint: Any, url_prefix: str | None = None) -> tuple[Any, str | None]:
        if not hasattr(blueprint, "register") or not hasattr(blueprint, "name"):
            raise TypeError(f"not a Quart Blueprint: {blueprint!r}")
        return blueprint, url_prefix

    for plugin_name, (blueprint, url_prefix) in platform.plugins.collect(
        "register_blueprints", check_blueprint
    ):
        try:
            app.register_blueprint(blueprint, url_prefix=url_prefix)
        except ValueError as exc:
            raise PluginError(
                f"plugin {plugin_name!r}: blueprint {blueprint.name!r}: {exc}"
            ) from exc

    routes: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for plugin_name, (path, handler) in platform.plugins.collect(
        "register_websocket_routes", websockets.check_route
    ):
        if path in routes:
            raise PluginError(
                f"plugin {plugin_name!r}: WebSocket route {path} is already served by plugin "
                f"{owners[path]!r}"
            )
        routes[path], owners[path] = handler, plugin_name
    if routes:
        app.asgi_app = websockets.WebsocketRoutes(app, app.asgi_app, routes)  # type: ignore[method-assign]

    _install_request_hooks(app, settings)
    _install_lifecycle(app, platform)
    return app


def _install_request_hooks(app: Quart, settings: Settings) -> None:
    origins = settings.get("cors_origins") or []
    origins = [origins] if isinstance(origins, str) else list(origins)
    allow_any = "*" in origins

    @app.before_request
    async def assign_request_id() -> None:
        request_id()

    @app.after_request
    async def decorate(response: Response) -> Response:
        response.headers["X-Request-ID"] = request_id()
        for key, value in (g.get("ratelimit_headers") or {}).items():
            response.headers.setdefault(key, value)
        origin = request.headers.get("Origin")
        if origin and (allow_any or origin in origins):
            response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Headers"] = (
                    "Authorization, Content-Type, X-Request-ID"
                )
                response.headers["Access-Control-Allow-Methods"] = (
                    "GET, POST, PUT, PATCH, DELETE, OPTIONS"
                )
                response.headers["Access-Control-Max-Age"] = "600"
            if not allow_any:
                response.vary.add("Origin")
        return response


async def _call_each(platform: Platform, hook_name: str, app: Quart, *, strict: bool) -> None:
    for impl in reversed(getattr(platform.plugins.hook, hook_name).get_hookimpls()):
        try:
            result = impl.function(**{arg: app for arg in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if strict:
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: {hook_name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            log.exception("plugin %r: %s failed", impl.plugin_name, hook_name)


def _install_lifecycle(app: Quart, platform: Platform) -> None:
    @app.before_serving
    async def start() -> None:
        config = platform.db_config
        if platform.settings.get("database.auto_upgrade", True):
            applied = await db.upgrade(config)
            if applied:
                log.info("database upgraded: %s", ", ".join(applied))
        await db.open_database(config)
        try:
            await platform.events.start()
            await platform.auth.start()
            await _call_each(platform, "startup", app, strict=True)
            await platform.jobs.start()
        except BaseException:
            # after_serving will not run: release what we opened so nothing leaks.
            await platform.jobs.stop()
            await platform.auth.stop()
            await platform.events.stop()
            await db.close_database()
            raise
        log.info(
            "platform ready on node %s with plugins: %s",
            platform.node,
            ", ".join(i["name"] for i in platform.plugins.plugin_list() if i["loaded"]) or "none",
        )

    @app.after_serving
    async def stop() -> None:
        await platform.jobs.stop()
        await _call_each(platform, "shutdown", app, strict=False)
        await platform.auth.stop()
        await platform.events.stop()
        await db.close_database()
