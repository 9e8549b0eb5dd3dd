"""Plugin discovery through entry points, clear startup errors, and per-app plugin managers."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from kernel.app import create_app
from kernel.plugins import PluginError, installed_entry_points

GOOD = """
from quart import Blueprint
from kernel.api import hookimpl, ok

@hookimpl
def register_blueprints(register):
    bp = Blueprint("{name}", __name__)

    @bp.get("/{name}/hello")
    async def hello():
        return ok({{"plugin": "{name}"}})

    register(bp)
"""


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install throwaway plugin distributions (real dist-info with an entry point) on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    names: list[str] = []

    def install(name: str, source: str) -> None:
        module = f"fake_{name.replace('-', '_')}"
        (site / f"{module}.py").write_text(textwrap.dedent(source.format(name=name)))
        info = site / f"fake_{module}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fake-{name}\nVersion: 1.2.3\n"
        )
        (info / "entry_points.txt").write_text(f"[meeting_platform.plugins]\n{name} = {module}\n")
        importlib.invalidate_caches()
        names.append(name)

    install.names = names
    yield install
    # The next test may install a module of the same name with other source.
    for name in names:
        sys.modules.pop(f"fake_{name.replace('-', '_')}", None)


def only(fakes, **plugin_settings):
    """Enable every installed plugin ("*") but the real ones, so the fakes are tested alone."""
    others = [ep.name for ep in installed_entry_points() if ep.name not in fakes.names]
    return {"plugins": {"enabled": "*", "disabled": others, **plugin_settings}}


def test_a_plugin_is_discovered_through_its_entry_point(fake_plugins, settings_for):
    fake_plugins("hello", GOOD)
    app = create_app(settings_for(**only(fake_plugins)))
    info = {p["name"]: p for p in app.extensions["platform"].plugins.plugin_list()}["hello"]
    assert info["loaded"] and info["version"] == "1.2.3"
    assert info["distribution"] == "fake-hello"
    assert info["hooks"] == ["register_blueprints"]
    assert any(rule.rule == "/hello/hello" for rule in app.url_map.iter_rules())


async def test_the_discovered_plugin_serves_its_route(fake_plugins, make_client):
    fake_plugins("hello", GOOD)
    async with make_client(**only(fake_plugins)) as client:
        response = await client.get("/hello/hello")
    body = await response.get_json()
    assert body.get("data") == {"plugin": "hello"}, body


def test_a_broken_plugin_stops_startup_with_one_clear_line(fake_plugins, settings_for):
    fake_plugins("hello", GOOD)
    fake_plugins("broken", "raise RuntimeError('cannot reach the licence server')")
    with pytest.raises(PluginError) as caught:
        create_app(settings_for(**only(fake_plugins)))
    message = str(caught.value)
    assert "\n" not in message
    assert "'broken'" in message and "cannot reach the licence server" in message


def test_skip_broken_keeps_the_others(fake_plugins, settings_for):
    fake_plugins("hello", GOOD)
    fake_plugins("broken", "import no_such_module_anywhere")
    app = create_app(settings_for(**only(fake_plugins, skip_broken=True)))
    infos = {p["name"]: p for p in app.extensions["platform"].plugins.plugin_list()}
    assert infos["hello"]["loaded"]
    assert not infos["broken"]["loaded"]
    assert "no_such_module_anywhere" in infos["broken"]["error"]


def test_missing_requirement_is_a_startup_error(fake_plugins, settings_for):
    fake_plugins("needy", "requires = ('meetings-of-nowhere',)\n" + GOOD)
    with pytest.raises(PluginError, match="'needy' requires plugin 'meetings-of-nowhere'"):
        create_app(settings_for(**only(fake_plugins)))


def test_requirement_that_is_installed_but_disabled(fake_plugins, settings_for):
    fake_plugins("base", GOOD)
    fake_plugins("needy", "requires = ('base',)\n" + GOOD)
    settings = only(fake_plugins)
    settings["plugins"]["disabled"].append("base")
    with pytest.raises(PluginError, match="'base', which is not enabled"):
        create_app(settings_for(**settings))
    settings["plugins"]["disabled"].remove("base")
    app = create_app(settings_for(**settings))
    assert app.extensions["platform"].plugins.infos["needy"].loaded


def test_enabled_but_not_installed(settings_for):
    with pytest.raises(PluginError, match=r"'no-such-plugin' is enabled .* but not installed"):
        create_app(settings_for(plugins={"enabled": ["no-such-plugin"]}))


UNAVAILABLE = """
from kernel.api import PluginUnavailable
raise PluginUnavailable("needs vosk: pip install 'meeting-platform[ai]'")
"""


def test_unavailable_optional_plugin_is_skipped_under_star(fake_plugins, settings_for, caplog):
    fake_plugins("asr", UNAVAILABLE)
    app = create_app(settings_for(**only(fake_plugins)))
    assert not app.extensions["platform"].plugins.infos["asr"].loaded
    assert "meeting-platform[ai]" in caplog.text


def test_unavailable_plugin_named_explicitly_is_an_error(fake_plugins, settings_for):
    fake_plugins("asr", UNAVAILABLE)
    with pytest.raises(PluginError, match=r"'asr' cannot load: needs vosk"):
        create_app(settings_for(plugins={"enabled": ["asr"]}))


def test_a_misspelt_hook_is_named(fake_plugins, settings_for):
    fake_plugins(
        "typo", "from kernel.api import hookimpl\n\n@hookimpl\ndef startpu(app):\n    pass\n"
    )
    with pytest.raises(PluginError, match="'typo' implements unknown hook 'startpu'"):
        create_app(settings_for(**only(fake_plugins)))


def test_a_failing_registration_names_the_plugin(fake_plugins, settings_for):
    fake_plugins(
        "badreg",
        "from kernel.api import hookimpl\n\n@hookimpl\n"
        "def register_blueprints(register):\n    register('not a blueprint')\n",
    )
    with pytest.raises(PluginError, match="'badreg': register_blueprints: not a Quart Blueprint"):
        create_app(settings_for(**only(fake_plugins)))


async def test_a_failing_startup_hook_stops_startup(fake_plugins, settings_for):
    fake_plugins(
        "sulky",
        "from kernel.api import hookimpl\n\n@hookimpl\nasync def startup(app):"
        "\n    raise OSError('model file missing')\n",
    )
    app = create_app(settings_for(**only(fake_plugins)))
    with pytest.raises(Exception, match="'sulky': startup failed: OSError: model file missing"):
        async with app.test_app():
            pass


def test_two_apps_do_not_share_plugins(fake_plugins, settings_for):
    fake_plugins("hello", GOOD)
    with_plugin = create_app(settings_for(**only(fake_plugins)))
    without = create_app(settings_for())
    assert with_plugin.extensions["platform"].plugins.pm.has_plugin("hello")
    assert not without.extensions["platform"].plugins.pm.has_plugin("hello")
    assert not any(r.rule == "/hello/hello" for r in without.url_map.iter_rules())


def test_cli_lists_installed_plugins_and_errors(fake_plugins, run_cli):
    fake_plugins("hello", GOOD)
    fake_plugins("broken", "raise RuntimeError('boom at import')")
    result = run_cli("plugins", "list", PLATFORM_PLUGINS__ENABLED='["hello", "broken"]')
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1] != " "}
    assert "loaded" in lines["hello"] and "1.2.3" in lines["hello"]
    assert "boom at import" in result.stdout


def test_serve_with_a_broken_plugin_fails_with_one_line(fake_plugins, run_cli):
    fake_plugins("broken", "raise RuntimeError('boom at import')")
    result = run_cli("serve", "--port", "1", PLATFORM_PLUGINS__ENABLED='["broken"]', timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == ["error: plugin 'broken' failed to load: RuntimeError: boom at import"]


def test_serve_with_a_failing_startup_hook_fails_with_one_line(fake_plugins, run_cli):
    fake_plugins(
        "sulky",
        "from kernel.api import hookimpl\n\n@hookimpl\nasync def startup(app):"
        "\n    raise OSError('model file missing')\n",
    )
    result = run_cli("serve", "--port", "0", PLATFORM_PLUGINS__ENABLED='["sulky"]', timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: plugin 'sulky': startup failed: OSError: model file missing"
    )
