"""`platform`: serve, db, user, plugins, config (plugins add commands: `register_commands`)."""

from __future__ import annotations

import asyncio
import gc
import getpass
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kernel import __version__

app = typer.Typer(
    help="meeting-platform: serve and manage the platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
plugins_app = typer.Typer(help="Plugins.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(plugins_app, name="plugins")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="A settings file (TOML) over config/settings.toml."),
]


def fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def use_config(config: Path | None) -> None:
    """Make a --config file visible to this process and to server worker processes."""
    if config is None:
        return
    if not config.is_file():
        fail(f"settings file not found: {config}")
    existing = os.environ.get("PLATFORM_SETTINGS_FILES", "")
    os.environ["PLATFORM_SETTINGS_FILES"] = ",".join(
        filter(None, [existing, str(config.resolve())])
    )


def platform_or_fail(**overrides: Any) -> Any:
    from kernel.app import build_platform
    from kernel.plugins import PluginError

    try:
        return build_platform(overrides or None)
    except (PluginError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"meeting-platform {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """meeting-platform: serve and manage the platform."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [server.host].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [server.port, 8000].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [server.workers].")] = None,
    config: ConfigOption = None,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Run the server (hypercorn). Embedded defaults need no configuration."""
    from hypercorn.config import Config

    from kernel.plugins import PluginError
    from kernel.settings import load_settings

    use_config(config)
    settings = load_settings()
    host = host or settings.get("server.host", "127.0.0.1")
    port = port or int(settings.get("server.port", 8000))
    workers = workers or int(settings.get("server.workers", 1))
    certfile = certfile or (Path(settings.server.certfile) if settings.server.certfile else None)
    keyfile = keyfile or (Path(settings.server.keyfile) if settings.server.keyfile else None)
    if bool(certfile) != bool(keyfile):
        fail("TLS needs both --certfile and --keyfile")

    # Where this server really listens, for plugins that connect to it (the media bot) when no
    # request says so; env, so that `--workers N` processes see it too.
    os.environ["PLATFORM_SERVER__HOST"], os.environ["PLATFORM_SERVER__PORT"] = host, str(port)
    settings = load_settings()

    hconfig = Config()
    hconfig.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    level = logging.getLevelName(str(settings.get("log_level", "INFO")).upper())
    # hypercorn builds every access-log line before the logger drops it: skip when unlogged.
    hconfig.accesslog = logging.getLogger("platform.access") if level <= logging.INFO else None
    hconfig.errorlog = logging.getLogger("platform.server")
    hconfig.graceful_timeout = 5
    if certfile:
        hconfig.certfile, hconfig.keyfile = str(certfile), str(keyfile)
    scheme = "https" if certfile else "http"

    if workers > 1:
        # Migrate once here, not in N workers racing each other.
        platform = platform_or_fail()
        asyncio.run(_upgrade(platform))
        os.environ["PLATFORM_DATABASE__AUTO_UPGRADE"] = "false"
        from hypercorn.run import run

        hconfig.workers = workers
        hconfig.application_path = "kernel.asgi:app"
        typer.echo(f"serving on {scheme}://{host}:{port} with {workers} workers")
        sys.exit(run(hconfig))

    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.utils import LifespanFailureError

    from kernel.app import create_app

    try:
        quart_app = create_app(settings)
    except (PluginError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"starting on {scheme}://{host}:{port}  (API docs: {scheme}://{host}:{port}/docs)")

    @quart_app.before_serving
    async def freeze_startup_objects() -> None:
        # Runs after the kernel's startup (registered later). What exists now (modules, app,
        # plugins) lives as long as the process: keep it out of the collector's full passes,
        # which otherwise stall the event loop for tens of ms (signaling latency spikes).
        gc.freeze()

    try:
        asyncio.run(hypercorn_serve(quart_app, hconfig))
    except LifespanFailureError as exc:  # a startup hook failed: say which, in one line
        fail(str(exc).removeprefix("Lifespan failure in startup. ").strip("'"))


@app.command()
def worker(config: ConfigOption = None) -> None:
    """Run this node's job workers (FFmpeg, AI, recording) without serving HTTP: an AI node.

    Share the servers' database_url, redis_url and storage; enable the plugins whose jobs this
    node should take. It registers itself (GET /api/v1/nodes) and stops cleanly on SIGTERM.
    """
    import signal

    from kernel.app import create_app
    from kernel.plugins import PluginError
    from kernel.settings import load_settings

    use_config(config)
    try:
        quart_app = create_app(load_settings())
    except (PluginError, ValueError) as exc:
        fail(str(exc))
    platform = quart_app.extensions["platform"]
    platform.role = "worker"
    if not platform.jobs.types:
        fail("no enabled plugin registers job types: nothing for a worker to do")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await quart_app.startup()
        kinds = ", ".join(sorted(platform.jobs.types))
        typer.echo(f"worker {platform.node}: {platform.jobs.workers} slots for {kinds}")
        try:
            await stop.wait()
        finally:
            await quart_app.shutdown()

    try:
        asyncio.run(run())
    except Exception as exc:  # a startup hook failed: one line, not a traceback
        fail(f"worker could not start: {exc}")


app.command("ai-node", help="Same as `platform worker` (the name the design uses).")(worker)


async def _upgrade(platform: Any) -> list[str]:
    from kernel import db

    return await db.upgrade(platform.db_config)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply pending schema migrations of the kernel and every enabled plugin."""
    use_config(config)
    applied = asyncio.run(_upgrade(platform_or_fail()))
    typer.echo("\n".join(f"applied {name}" for name in applied) or "database is up to date")


@db_app.command("makemigrations")
def db_makemigrations(
    labels: Annotated[list[str] | None, typer.Argument(help="App labels (default: all).")] = None,
    name: Annotated[str | None, typer.Option(help="Name of the migration.")] = None,
    config: ConfigOption = None,
) -> None:
    """For plugin authors: write migrations for model changes (like Django's makemigrations)."""
    from tortoise.migrations.autodetector import MigrationAutodetector
    from tortoise.migrations.writer import format_migration_name

    use_config(config)
    platform = platform_or_fail()
    tortoise_config = platform.db_config
    selected = tortoise_config["apps"]
    if labels:
        unknown = set(labels) - set(selected)
        if unknown:
            fail(f"unknown app label(s): {', '.join(sorted(unknown))}")
        selected = {k: v for k, v in selected.items() if k in labels}
    for label, app_config in selected.items():
        if not app_config.get("migrations"):
            fail(f"app {label!r} registered no migrations package: register(migrations=...)")
        try:
            importlib.import_module(app_config["migrations"])
        except ModuleNotFoundError:
            fail(f"create the package {app_config['migrations']} (an empty __init__.py) first")

    async def detect() -> list[Any]:
        from tortoise.context import TortoiseContext

        # Every app takes part (models and migrations refer across apps, e.g. to kernel.User);
        # only the selected apps' migrations are written.
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config)
            writers = await MigrationAutodetector(ctx.apps, tortoise_config["apps"]).changes()
        return [writer for writer in writers if writer.app_label in selected]

    writers = asyncio.run(detect())
    if not writers:
        typer.echo("no changes detected")
    for writer in writers:
        if name:
            writer.name = format_migration_name(int(writer.name.split("_", 1)[0]), name)
        typer.echo(f"created {writer.app_label}.{writer.name}: {writer.write()}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(prompt=True)],
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[
        str | None, typer.Option(help="Asked for when not given (or PLATFORM_USER_PASSWORD).")
    ] = None,
    nickname: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a user, e.g. the first admin: `platform user create --admin`."""
    from kernel import db
    from kernel.auth.models import Role
    from kernel.errors import ApiError

    use_config(config)
    password = password or os.environ.get("PLATFORM_USER_PASSWORD")
    if not password:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            fail("the passwords differ")
    if not 6 <= len(password) <= 100:
        fail("password: 6-100 characters")
    platform = platform_or_fail()

    async def create() -> Any:
        config_dict = platform.db_config
        await db.upgrade(config_dict)
        await db.open_database(config_dict)
        try:
            return await platform.auth.create_user(
                username, email, password, nickname, Role.ADMIN if admin else Role.USER
            )
        finally:
            await db.close_database()

    try:
        user = asyncio.run(create())
    except ApiError as exc:
        fail(exc.message)
    typer.echo(f"created {'admin' if admin else 'user'} {user.username} (user_id {user.id})")


@plugins_app.command("list")
def plugins_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Installed plugins: version, enabled, loaded, hooks, and why one did not load."""
    from kernel.app import build_platform

    use_config(config)
    logging.disable(logging.ERROR)
    try:
        platform = build_platform({"plugins": {"skip_broken": True}})
    except Exception as exc:
        fail(str(exc))
    finally:
        logging.disable(logging.NOTSET)
    rows = [p for p in platform.plugins.plugin_list() if p["name"] != "kernel"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no plugins installed")
    for row in rows:
        state = "loaded" if row["loaded"] else ("enabled" if row["enabled"] else "disabled")
        typer.echo(
            f"{row['name']:<20} {row['version'] or '-':<10} {state:<9} "
            f"{', '.join(row['hooks']) or '-'}"
        )
        if row["error"]:
            typer.echo(f"{'':<20} error: {row['error']}")


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """The effective settings, secrets masked."""
    from kernel.settings import load_settings, masked

    use_config(config)
    typer.echo(json.dumps(masked(load_settings()), indent=2, default=str))


def _add_plugin_commands() -> None:
    """Let enabled plugins add sub-commands; a broken plugin must not break the CLI."""
    from kernel.app import build_platform

    logging.disable(logging.WARNING)
    try:
        platform = build_platform({"plugins": {"skip_broken": True}})
    except Exception as exc:  # the built-in commands must keep working
        typer.secho(f"warning: plugin commands unavailable: {exc}", err=True)
        return
    finally:
        logging.disable(logging.NOTSET)
    for impl in reversed(platform.plugins.hook.register_commands.get_hookimpls()):
        try:
            impl.function(cli=app)
        except Exception as exc:  # one plugin's bug must not take the others' commands
            typer.secho(
                f"warning: plugin {impl.plugin_name!r}: commands unavailable: {exc}", err=True
            )


def main() -> None:
    if sys.argv[1:2] != ["serve"]:  # serve starts fast and loads plugins itself
        _add_plugin_commands()
    app()


if __name__ == "__main__":
    main()
