"""Plugins that clash: one entry-point name in two distributions, one component name in two
plugins, an unknown name in SSL_LOAD_PLUGINS, a plugin that calls sys.exit at import."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from ssl_core import DuplicateComponentError, available, create, plugins, registry

#: a plugin registering one throwaway component of a kind.
PLUGIN = '''
from ssl_core import hookimpl

@hookimpl
def {hook}(register):
    register("{name}", object, description="throwaway")
'''


@pytest.fixture
def install(plugin_dir, tmp_path):
    """Install a throwaway plugin distribution whose entry point has the given name."""

    def write(dist: str, module: str, entry_point: str, hook: str, name: str) -> None:
        plugin_dir(dist, module, PLUGIN.format(hook=hook, name=name))
        (tmp_path / "site" / f"{module}-0.1.dist-info" / "entry_points.txt").write_text(
            f"[ssl]\n{entry_point} = {module}\n")

    return write


def _select(monkeypatch, *dists: str) -> None:
    monkeypatch.setenv("SSL_LOAD_PLUGINS", ",".join([os.environ["SSL_LOAD_PLUGINS"], *dists]))


def _plugins_command(*args: str):
    from ssl_core.cli import cli

    return CliRunner().invoke(cli, ["plugins", *args])


def test_an_entry_point_named_like_another_distributions_loads_alongside_it(install, monkeypatch):
    install("ssl-throwaway-a", "ssl_throwaway_a", "simclr", "register_losses", "extra-loss")
    _select(monkeypatch, "ssl-throwaway-a")
    assert registry.spec("branch", "simclr").package == "ssl-simclr"  # not shadowed
    assert registry.spec("loss", "extra-loss").package == "ssl-throwaway-a"
    seen = {(i.name, i.package) for i in plugins.plugin_infos() if not i.error}
    assert {("simclr", "ssl-simclr"), ("simclr", "ssl-throwaway-a")} <= seen


def test_a_component_registered_by_two_distributions_fails_at_use_naming_both(install, monkeypatch):
    install("ssl-throwaway-a", "ssl_throwaway_a", "simclr", "register_branches", "simclr")
    _select(monkeypatch, "ssl-throwaway-a")
    with pytest.raises(DuplicateComponentError) as err:
        create("branch", "simclr")
    assert "ssl-simclr" in str(err.value) and "ssl-throwaway-a" in str(err.value)
    assert "nt-xent" in available("loss")  # other kinds are unaffected


def test_ssl_plugins_lists_both_registrations_of_a_clashing_name_and_the_clash(install, monkeypatch):
    install("ssl-throwaway-a", "ssl_throwaway_a", "simclr", "register_branches", "simclr")
    _select(monkeypatch, "ssl-throwaway-a")
    result = _plugins_command("--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    packages = {r["package"] for r in listing["components"] if (r["kind"], r["name"]) == ("branch", "simclr")}
    assert packages == {"ssl-simclr", "ssl-throwaway-a"}
    assert [(c["kind"], c["name"], sorted(c["packages"])) for c in listing["clashes"]] == [
        ("branch", "simclr", ["ssl-simclr", "ssl-throwaway-a"])]
    result = _plugins_command()
    assert result.exit_code == 0, result.output
    assert "branch 'simclr' is registered by both" in result.stderr


def test_an_unknown_distribution_in_ssl_load_plugins_is_reported_with_the_installed_ones(
        plugin_dir, monkeypatch, capsys):
    _select(monkeypatch, "ssl-nonexistent")
    plugins.load_plugins()  # plugin_dir reset the plugin set, so this loads again
    err = capsys.readouterr().err
    assert "SSL_LOAD_PLUGINS" in err and "ssl-nonexistent" in err
    assert "ssl-simclr" in err.split("ssl-nonexistent", 1)[1]  # followed by the installed ones


def test_a_plugin_calling_sys_exit_at_import_is_reported_and_skipped(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-exit", "ssl_throwaway_exit", "import sys\nsys.exit(3)\n")
    plugin_dir("ssl-throwaway-base", "ssl_throwaway_base",
               "class Stop(BaseException):\n    pass\nraise Stop('halt')\n")
    _select(monkeypatch, "ssl-throwaway-exit", "ssl-throwaway-base")
    assert "simclr" in available("branch")  # the others still load
    failed = {i.package: i.error for i in plugins.plugin_infos() if i.error}
    assert "called sys.exit with code 3" in failed["ssl-throwaway-exit"]
    assert "Stop: halt" in failed["ssl-throwaway-base"]


def test_a_keyboard_interrupt_while_importing_a_plugin_is_not_swallowed(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-interrupt", "ssl_throwaway_interrupt", "raise KeyboardInterrupt\n")
    _select(monkeypatch, "ssl-throwaway-interrupt")
    with pytest.raises(KeyboardInterrupt):
        plugins.load_plugins()
