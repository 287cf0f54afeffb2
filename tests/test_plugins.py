"""Plugin discovery through entry points: loading, filtering, duplicates, broken plugins."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from ssl_core import DuplicateComponentError, available, create, plugins, registry

LOSS_PLUGIN = '''
from ssl_core import hookimpl
from ssl_losses import NegativeCosineLoss

@hookimpl
def register_losses(register):
    register("{name}", NegativeCosineLoss, description="throwaway")
'''


def _select(monkeypatch, *dists: str) -> None:
    monkeypatch.setenv("SSL_LOAD_PLUGINS", ",".join([os.environ["SSL_LOAD_PLUGINS"], *dists]))


def test_entry_point_plugin_is_discovered_with_its_package(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-a", "ssl_throwaway_a", LOSS_PLUGIN.format(name="extra-loss"))
    _select(monkeypatch, "ssl-throwaway-a")
    assert "extra-loss" in available("loss")
    spec = registry.spec("loss", "extra-loss")
    assert (spec.package, spec.version, spec.description) == ("ssl-throwaway-a", "0.1", "throwaway")
    assert create("loss", "extra-loss").input_kind == "prediction-target"


def test_plugins_not_selected_by_ssl_load_plugins_are_not_loaded(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-a", "ssl_throwaway_a", LOSS_PLUGIN.format(name="extra-loss"))
    assert "extra-loss" not in available("loss")  # installed but not in SSL_LOAD_PLUGINS
    monkeypatch.setenv("SSL_LOAD_PLUGINS", "")
    plugins.reset_plugins()
    assert available("branch") == []  # only the built-ins remain
    assert available("loss") == [] and "small-resnet" in available("encoder")  # losses are a plugin now


def test_two_plugins_registering_one_name_is_an_error_naming_both(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-a", "ssl_throwaway_a", LOSS_PLUGIN.format(name="same"))
    plugin_dir("ssl-throwaway-b", "ssl_throwaway_b", LOSS_PLUGIN.format(name="same"))
    _select(monkeypatch, "ssl-throwaway-a", "ssl-throwaway-b")
    with pytest.raises(DuplicateComponentError) as err:
        available("loss")
    assert "ssl-throwaway-a" in str(err.value) and "ssl-throwaway-b" in str(err.value)


def test_a_plugin_that_raises_on_import_is_reported_and_skipped(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-broken", "ssl_throwaway_broken", "raise RuntimeError('boom at import')")
    plugin_dir("ssl-throwaway-a", "ssl_throwaway_a", LOSS_PLUGIN.format(name="extra-loss"))
    _select(monkeypatch, "ssl-throwaway-broken", "ssl-throwaway-a")
    assert "extra-loss" in available("loss")  # the others still load
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    failed = json.loads(result.stdout)["failed"]
    assert [f["package"] for f in failed] == ["ssl-throwaway-broken"]
    assert "boom at import" in failed[0]["error"]


def test_plugins_json_lists_builtins_and_both_plugins_across_all_kinds():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    rows = json.loads(result.stdout)["components"]
    kinds = {r["kind"] for r in rows}
    assert {"encoder", "views", "branch", "loss", "regularizer", "callback"} <= kinds
    by_name = {(r["kind"], r["name"]): r for r in rows}
    assert by_name[("branch", "simclr")]["package"] == "ssl-simclr"
    assert by_name[("views", "simclr")]["package"] == "ssl-augment"
    assert by_name[("loss", "nt-xent")]["package"] == "ssl-losses"
    assert by_name[("encoder", "small-resnet")]["package"] == "ssl-core"
    assert all(set(r) >= {"name", "kind", "package", "version"} for r in rows)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(registry.UnknownComponentError) as err:
        create("branch", "simclrr")
    message = str(err.value)
    assert "simclrr" in message and "simclr" in message and "did you mean 'simclr'" in message
    with pytest.raises(registry.UnknownComponentError, match="valid kinds: encoder, views"):
        available("encoders")


def test_unknown_or_invalid_options_name_the_option_and_the_valid_ones():
    with pytest.raises(registry.ComponentOptionError, match="unknown option.*temprature.*valid options: temperature"):
        create("loss", "nt-xent", temprature=0.1)
    with pytest.raises(registry.ComponentOptionError, match="temperature"):
        create("loss", "nt-xent", temperature=-1.0)


def test_hookimpl_is_the_pluggy_marker_of_project_ssl():
    import ssl_core

    @ssl_core.hookimpl
    def register_losses(register):
        pass

    assert hasattr(register_losses, "ssl_impl")


def test_a_plugin_with_a_misspelt_hook_or_a_raising_hook_is_skipped(plugin_dir, monkeypatch):
    plugin_dir("ssl-throwaway-typo", "ssl_throwaway_typo",
               "from ssl_core import hookimpl\n@hookimpl\ndef register_loss(register):\n    pass\n")
    plugin_dir("ssl-throwaway-raises", "ssl_throwaway_raises",
               "from ssl_core import hookimpl\n@hookimpl\ndef register_losses(register):\n"
               "    register('half-registered', object)\n    raise ValueError('bad hook')\n")
    plugin_dir("ssl-throwaway-a", "ssl_throwaway_a", LOSS_PLUGIN.format(name="extra-loss"))
    _select(monkeypatch, "ssl-throwaway-typo", "ssl-throwaway-raises", "ssl-throwaway-a")
    losses = available("loss")
    assert "extra-loss" in losses and "half-registered" not in losses
    errors = {i.package: i.error for i in plugins.plugin_infos() if i.error}
    assert "register_loss" in errors["ssl-throwaway-typo"]
    assert "bad hook" in errors["ssl-throwaway-raises"]


def test_a_plugin_written_for_the_old_contract_is_refused_naming_the_change(plugin_dir, monkeypatch, capsys):
    plugin_dir("ssl-throwaway-old", "ssl_throwaway_old", LOSS_PLUGIN.format(name="old-loss"),
               requires="ssl-core>=0.1,<0.2")
    _select(monkeypatch, "ssl-throwaway-old")
    assert "old-loss" not in available("loss")
    failed = {i.package: i.error for i in plugins.plugin_infos() if i.error}
    assert "ssl-core 0.2" in failed["ssl-throwaway-old"] and "teacher_features" in failed["ssl-throwaway-old"]
    assert "upgrade the plugin" in capsys.readouterr().err


def test_a_plugin_importing_a_module_that_became_internal_is_told_what_to_import(plugin_dir, monkeypatch):
    source = "from ssl_core.training.state import TrainContext\n" + LOSS_PLUGIN.format(name="internal-loss")
    plugin_dir("ssl-throwaway-internal", "ssl_throwaway_internal", source)
    _select(monkeypatch, "ssl-throwaway-internal")
    assert "internal-loss" not in available("loss")
    failed = {i.package: i.error for i in plugins.plugin_infos() if i.error}
    assert "ssl_core.training.state" in failed["ssl-throwaway-internal"]
    assert "import from ssl_core or ssl_core.nn" in failed["ssl-throwaway-internal"]


def test_a_run_whose_loss_or_dataset_plugin_is_missing_says_which_package_to_install(monkeypatch):
    from ssl_core.config import dataset_source, resolve

    loaded = [d for d in os.environ["SSL_LOAD_PLUGINS"].split(",") if d not in ("ssl-losses", "ssl-shapes")]
    monkeypatch.setenv("SSL_LOAD_PLUGINS", ",".join(loaded))
    plugins.reset_plugins()
    try:
        with pytest.raises(registry.UnknownComponentError, match="unknown loss 'nt-xent'.*pip install ssl-losses"):
            resolve({"branch": "simclr"})
        with pytest.raises(registry.UnknownComponentError, match="unknown dataset 'shapes'.*pip install ssl-shapes"):
            dataset_source("shapes")  # not read as a Hub name when its plugin is missing
    finally:
        monkeypatch.undo()
        plugins.reset_plugins()
